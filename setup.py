"""Install slr-fused.

The repository's top-level folders keep the names the project was specified with, but are
installed under one import package so they never shadow other distributions:

    slr/      -> slr_fused            (data, models, losses, training, CLI)
    kernels/  -> slr_fused.kernels    (Triton kernels)
    export/   -> slr_fused.export     (ONNX / TensorRT)
    bench/    -> slr_fused.bench      (benchmarks)
"""

from setuptools import find_packages, setup

FOLDERS = {"slr_fused": "slr", "slr_fused.kernels": "kernels",
           "slr_fused.export": "export", "slr_fused.bench": "bench"}


def packages_and_dirs():
    packages, package_dir = [], {}
    for name, folder in FOLDERS.items():
        package_dir[name] = folder
        packages.append(name)
        for sub in find_packages(folder):
            packages.append(f"{name}.{sub}")
            package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


PACKAGES, PACKAGE_DIR = packages_and_dirs()

# Versions checked to work together in one Python 3.11 environment (see constraints.txt):
# MediaPipe 0.10.21 needs numpy < 2 and protobuf < 5; onnx >= 1.20 needs protobuf >= 6.31.
EXTRAS = {
    "kernels": ["triton>=3.2"],
    "export": ["onnx>=1.16,<1.20", "onnxruntime>=1.18", "onnxscript>=0.2"],
    "tensorrt": ["tensorrt>=10.0"],
    "mediapipe": ["mediapipe==0.10.21", "opencv-python-headless>=4.8,<4.12", "protobuf>=4.25,<5"],
    "bench": ["fvcore>=0.1.5", "pytest-benchmark>=4.0", "matplotlib>=3.7"],
    "plots": ["matplotlib>=3.7"],
    "convert": ["pose-format>=0.15"],
}
EXTRAS["test"] = sorted({"pytest>=7.4", "pytest-timeout>=2.1", *EXTRAS["kernels"], *EXTRAS["bench"],
                         *EXTRAS["plots"], *EXTRAS["export"], *EXTRAS["mediapipe"], *EXTRAS["convert"],
                         "scikit-image>=0.21"})
EXTRAS["all"] = sorted({dep for key, deps in EXTRAS.items() if key != "tensorrt" for dep in deps})

setup(
    name="slr-fused",
    version="0.1.0",
    description="Skeleton-based sign language recognition: SiFormer with fused cross-modal "
                "attention, fast to train and to deploy",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    package_data={"slr_fused.export": ["tensorrt_onnx_ops_10.0.txt"]},
    # Core: torch and numpy, plus tqdm (progress bars) and matplotlib (run plots, confusion matrices).
    install_requires=["torch>=2.1", "numpy>=1.23", "tqdm>=4.60", "matplotlib>=3.7"],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["slr=slr_fused.cli:main"]},
)

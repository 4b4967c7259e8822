"""Packaging for the Swift-backed compute path of ChRIS: swiftstore, pfioh and pman."""
import ast
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _version() -> str:
    """``VERSION`` of swiftstore/version.py, read without importing the package (its dependencies
    may not be installed yet)."""
    tree = ast.parse((HERE / "swiftstore" / "version.py").read_text())
    return next(node.value.value for node in tree.body
                if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["VERSION"])


def _requirements():
    lines = (HERE / "requirements" / "runtime.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="chris-swift-compute",
    version=_version(),
    description="pfioh, pman and swiftstore: the Swift-backed compute path of ChRIS",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["swiftstore*", "pfioh*", "pman*", "httpkit*", "safearchive*"]),
    install_requires=_requirements(),
    entry_points={
        "console_scripts": [
            "pfioh = pfioh.cli:main",
            "pman = pman.cli:main",
            "pman-swift-publisher = pman.publisher.cli:main",
            "pfioh-client = pfioh.client:main",
            "pman-client = pman.client:main",
        ]
    },
)

"""`pip install .`: the ROS-free library and the `mipnet` command (no node, no messages).

ROS users build the same folder with colcon, which uses CMakeLists.txt and package.xml instead and
installs the messages, the node, launch files and configuration as well.
"""
import glob
import os

from setuptools import find_packages, setup

NAME = 'mipnet_ros'


def share(folder, pattern='*'):
    """Every file of a repository folder under share/mipnet_ros/<folder> (core/resources.py finds them)."""
    files = [f for f in glob.glob(os.path.join(folder, pattern)) if os.path.isfile(f)]
    return (os.path.join('share', NAME, folder), files)


setup(
    name=NAME,
    version='0.1.0',
    packages=find_packages(include=[NAME, NAME + '.*']),
    data_files=[share('models'), share('config')],
    install_requires=['numpy', 'opencv-python-headless', 'pyyaml', 'torch', 'onnx', 'onnxruntime', 'tqdm', 'scipy'],
    extras_require={'test': ['pytest<9']},
    zip_safe=False,
    maintainer='mipnet_ros developers',
    maintainer_email='mipnet-ros@example.com',
    description='MIPNet multi-instance pose estimation (ROS-free library of the mipnet_ros package)',
    license='Apache-2.0',
    entry_points={'console_scripts': ['mipnet = mipnet_ros.cli:main']},
)

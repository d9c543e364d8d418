"""ament_python package of the mipnet_ros node; the ROS-free core lives in mipnet_ros/core."""
import glob
import os

from setuptools import find_packages, setup

NAME = 'mipnet_ros'


def share(folder, pattern='*'):
    """Install every file of a repository folder under share/mipnet_ros/<folder>."""
    files = [f for f in glob.glob(os.path.join(folder, pattern)) if os.path.isfile(f)]
    return (os.path.join('share', NAME, folder), files)


setup(
    name=NAME,
    version='0.1.0',
    packages=find_packages(include=[NAME, NAME + '.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + NAME]),
        ('share/' + NAME, ['package.xml']),
        share('launch'),
        share('config'),
        share('models'),
        share('rviz'),
    ],
    install_requires=['setuptools'],
    extras_require={'test': ['pytest']},
    zip_safe=True,
    maintainer='mipnet_ros developers',
    maintainer_email='mipnet-ros@example.com',
    description='MIPNet multi-instance pose estimation for ROS 2',
    license='Apache-2.0',
    entry_points={'console_scripts': [
        'mipnet_node = mipnet_ros.ros.node:main',
        'mipnet = mipnet_ros.cli:main',
    ]},
)

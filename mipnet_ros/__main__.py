import sys

from mipnet_ros.cli import main

sys.exit(main())

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
version = {}
exec((HERE / "channels_fanout" / "version.py").read_text(), version)

setup(
    name="channels-fanout",
    version=version["__version__"],
    description=(
        "A Django Channels layer on Redis pub/sub: one subscriber connection per "
        "process, local fan-out, one PUBLISH per group_send."
    ),
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license_expression="BSD-3-Clause",
    license_files=["LICENSE"],
    packages=find_packages(include=["channels_fanout", "channels_fanout.*"]),
    package_data={"channels_fanout": ["py.typed"]},
    python_requires=">=3.11",
    install_requires=[
        # Channels 4.3 added the name checks the layer calls (require_valid_channel_name, require_valid_group_name).
        "channels>=4.3",
        "Django>=5.2",
        "redis[hiredis]>=8.0",
        "msgpack>=1.0",
    ],
    extras_require={
        "cryptography": ["cryptography>=41"],
        "prometheus": ["prometheus_client>=0.17"],
        "tests": [
            "cryptography>=41",
            "prometheus_client>=0.17",
            "daphne>=4.0",
            "dj-database-url>=2.1",
            "pytest>=8",
            "pytest-asyncio>=0.23",
            "pytest-django>=4.8",
            "pytest-timeout>=2.2",
            "websockets>=12",
            "selenium>=4.10",
            # The benchmark tooling's test of a PostgreSQL run (the machine's own server).
            "psycopg[binary]>=3.1",
        ],
        # Pinned: a new release's rules must not fail CI unannounced. mypy reads the optional extras' types.
        "lint": ["ruff==0.17.6", "mypy==2.4.1", "import-linter==2.17", "cryptography>=41", "prometheus_client>=0.17"],
        # scripts/check_package.sh: build the sdist and the wheel, check their metadata.
        "package": ["build>=1.2", "twine>=6"],
        # scripts/nox.sh: the test suite at both ends of the supported range (noxfile.py).
        "nox": ["nox>=2025.10.14"],
        # dj-database-url: the chat benchmark serves the testproject, whose settings read DATABASE_URL with it;
        # psycopg: its PostgreSQL variants.
        "benchmarks": [
            "channels_redis>=4.2",
            "daphne>=4.0",
            "dj-database-url>=2.1",
            "websockets>=12",
            "pyinstrument>=4.6",
            "psycopg[binary]>=3.1",
        ],
    },
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Framework :: Django :: 6.1",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Internet :: WWW/HTTP",
    ],
)

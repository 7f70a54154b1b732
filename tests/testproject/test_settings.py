"""The project's settings take the database from DATABASE_URL, as dj-database-url reads it."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_postgresql_url_reaches_databases():
    # A process of its own: the settings module reads the environment once, at import.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "testproject.settings"}
    env["DATABASE_URL"] = "postgres://chat:p%40ss@127.0.0.1:5432/test?sslmode=disable"
    show = "import json; from django.conf import settings; print(json.dumps(settings.DATABASES['default']))"
    result = subprocess.run(
        [sys.executable, "-c", show], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True
    )
    database = json.loads(result.stdout)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["USER"], database["PASSWORD"]) == ("test", "chat", "p@ss")
    assert (database["HOST"], database["PORT"], database["OPTIONS"]) == ("127.0.0.1", 5432, {"sslmode": "disable"})

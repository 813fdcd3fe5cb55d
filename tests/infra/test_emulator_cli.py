"""`soundbite emulator` prints a working environment and stops its server on SIGTERM."""

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import boto3
import pytest


def test_emulator_command_serves_the_bootstrapped_data_plane_until_sigterm():
    process = subprocess.Popen([sys.executable, "-m", "soundbite.cli", "emulator", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or lines[-1].strip() != "}":
            line = process.stdout.readline()
            assert line, process.stderr.read()
            lines.append(line)
        env = json.loads("".join(lines))
        session = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])
        ddb = session.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"])
        assert env["SOUNDBITE_TABLE"] in ddb.list_tables()["TableNames"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        with pytest.raises(urllib.error.URLError) as stopped:
            urllib.request.urlopen(env["AWS_ENDPOINT_URL"] + "/", timeout=2)
        assert not isinstance(stopped.value, urllib.error.HTTPError)  # nothing answers at all
    finally:
        process.kill()

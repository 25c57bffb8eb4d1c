"""The tasks of the import_cat pipeline: each gets the Job and changes its workspace."""

import hashlib
import time


def fetch(job):
    """Pretend to download a picture of the cat."""
    time.sleep(0.3)
    if job.workspace.get("flaky") and job.attempts == 1:
        raise ConnectionError("the cat server hiccuped (retried automatically)")
    job.workspace["picture"] = f"https://cats.example/{job.workspace['cat'].lower()}.jpg"


def resize(job):
    """Pretend to make a thumbnail."""
    time.sleep(0.3)
    job.workspace["thumbnail"] = job.workspace["picture"].replace(".jpg", "-small.jpg")


def store(job):
    """Pretend to store it, remembering a checksum."""
    time.sleep(0.3)
    job.workspace["checksum"] = hashlib.sha256(job.workspace["thumbnail"].encode()).hexdigest()[:12]


def report_failure(job, exception):
    """Runs once the last attempt of a step has failed."""
    job.workspace["gave_up_because"] = str(exception)

"""Trials on a Dask distributed cluster (`emu inject --cluster tcp://HOST:8786`).

Contract: `run_cluster(address, image_path, settings, golden, trials, batch)` connects to
the scheduler at `address`, sends the image (and the disk next to it) to every worker
once, submits the trials in batches of `batch` as tasks, and yields the results as the
tasks finish, in any order.  On a worker a task runs its batch on a fork server
subprocess (`tools.inject.pool.Worker`, which boots the image once to the golden point
and forks a child per trial): a Dask worker has threads, so it never forks itself.
Fork servers are kept per worker process, one per thread that needs one, for the next
tasks of the same campaign.  The results are the same as on local workers: a trial
depends only on the image, the settings and its number.
"""

import hashlib
import json
import tempfile
import threading
from pathlib import Path

_SERVERS = {}                 # (image hash, settings) -> idle Workers of this process
_LOCK = threading.Lock()


def run_cluster(address, image_path, settings, golden, trials, batch=20):
    from distributed import Client, as_completed
    image_path = Path(image_path)
    files = {"minix.img": image_path.read_bytes()}
    disk = image_path.parent / "disk.img"
    if disk.is_file():
        files["disk.img"] = disk.read_bytes()
    key = hashlib.sha256(b"".join(files[name] for name in sorted(files))).hexdigest()
    client = Client(address, timeout="30s")
    try:
        [shipped] = client.scatter([files], broadcast=True)
        trials = list(trials)
        futures = [client.submit(run_batch, trials[i:i + batch], shipped, key, settings,
                                 golden, pure=False)
                   for i in range(0, len(trials), max(1, batch))]
        for future in as_completed(futures):
            yield from future.result()
    finally:
        client.close()


def run_batch(trials, files, key, settings, golden):
    """A Dask task: `trials` on this worker process's fork server for the campaign."""
    from tools.inject.pool import Worker
    image = _materialize(files, key)
    server_key = (key, json.dumps(settings, sort_keys=True))
    with _LOCK:
        idle = _SERVERS.setdefault(server_key, [])
        server = idle.pop() if idle else None
    if server is None:
        server = Worker(image, settings, golden)
    try:
        results = [server.run(number) for number in trials]
    except BaseException:
        server.close()
        raise
    with _LOCK:
        _SERVERS[server_key].append(server)
    return results


def _materialize(files, key):
    """The image and disk written once per worker machine, under a folder named by
    their hash (the disk must sit next to the image)."""
    folder = Path(tempfile.gettempdir()) / f"minix-emu-inject-{key[:16]}"
    image = folder / "minix.img"
    with _LOCK:
        if not image.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                part = folder / (name + ".part")
                part.write_bytes(data)
                part.replace(folder / name)
    return image

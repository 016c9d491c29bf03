"""Murko client overhead per request beyond the server's own time. Goal ≤ 5 ms for 4 × 1024×1360.

A replay server on loopback (ZeroMQ REP in a thread) answers every request with the same
pre-pickled reply: four real-schema descriptions of 1024×1360 pictures of the simulated sample
(about 0.6 MB each, as Murko's are). It measures its own time from receiving a request to
sending the reply; the client's wall time minus that is the client's overhead. The overhead is
reported in parts: JPEG encoding of the four pictures (the camera gives RGB arrays), and the rest
(pickling, transport, restricted unpickling, reply checks, mapping back to camera pixels).

    .venv/bin/python benchmarks/bench_murko_client.py [--repeats N]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import threading
import time

import numpy as np

GOAL_MS = 5.0


class ReplayServer:
    def __init__(self, reply: bytes) -> None:
        import zmq

        self.reply = reply
        self.own_times: list[float] = []
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.REP)
        self.port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import zmq

        while not self.stop.is_set():
            if not self.socket.poll(50, zmq.POLLIN):
                continue
            self.socket.recv()
            t0 = time.perf_counter()
            self.socket.send(self.reply)
            self.own_times.append(time.perf_counter() - t0)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.socket.close(linger=0)
        self.context.term()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    from mxcubecore_interleave.murko.client import MurkoClient
    from mxcubecore_interleave.murko.protocol import encode_jpeg
    from mxcubecore_interleave.murko.scene import CameraView, SampleScene, render
    from mxcubecore_interleave.murko.segment import describe

    view = CameraView(width=1360, height=1024, beam_x=680, beam_y=512,
                      pixels_per_mm_x=1 / 0.00045, pixels_per_mm_y=1 / 0.00045)
    scene = SampleScene(noise_level=3.0)
    start = scene.crystal_centred_position()
    images = [render(scene, dict(start, omega=float(om)), view, frame_index=k) for k, om in enumerate((0, 90, 180, 270))]
    reply = {"original_image_shape": images[0].shape, "descriptions": [describe(im) for im in images]}
    payload = pickle.dumps(reply)
    server = ReplayServer(payload)
    try:
        client = MurkoClient(port=server.port, timeout_s=10)
        client.predict(images)  # connect and warm up
        server.own_times.clear()
        totals, encodes = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            views = client.predict(images)
            totals.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for im in images:
                encode_jpeg(im, client.jpeg_quality)
            encodes.append(time.perf_counter() - t0)
        assert all(v.present for v in views)
    finally:
        server.close()

    total = statistics.median(totals) * 1000
    own = statistics.median(server.own_times) * 1000
    encode = statistics.median(encodes) * 1000
    overhead = total - own
    protocol = overhead - encode
    print(f"4 pictures of 1024x1360, reply {len(payload) / 1e6:.2f} MB, median of {args.repeats}:")
    print(f"  client wall time           {total:7.2f} ms")
    print(f"  server's own time          {own:7.2f} ms")
    print(f"  client overhead            {overhead:7.2f} ms")
    print(f"    JPEG encoding (4 frames) {encode:7.2f} ms")
    print(f"    protocol (rest)          {protocol:7.2f} ms   goal <= {GOAL_MS} ms: {'met' if protocol <= GOAL_MS else 'MISSED'}")
    print(f"  whole overhead incl. JPEG  {'met' if overhead <= GOAL_MS else 'MISSED'} (goal <= {GOAL_MS} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

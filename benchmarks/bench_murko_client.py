"""Murko client overhead per request beyond the server's own time. Goal ≤ 5 ms for 4 × 1024×1360.

A replay server on loopback (ZeroMQ REP in a thread) answers every request with the same
pre-pickled reply: four real-schema descriptions of 1024×1360 pictures of the simulated sample
(about 0.6 MB each, as Murko's are). It measures its own time, from receiving a request to having
sent the reply. The client times its phases itself (``MurkoClient.last_timings``): JPEG encoding,
pickling the request, the round trip, restricted unpickling, reply checks and mapping back.

The goal is compared against **client wall time − server's own time** (everything the client
adds: pickling, loopback transport of request and reply, unpickling, checks, mapping back, and
any JPEG encoding). Three cases:

* camera JPEG: the camera hands over its own JPEG frames (``camera.get_jpeg()``), sent as they
  are, so there is no encoding;
* RGB, pooled: the camera gives RGB arrays, encoded with Pillow (quality 85) in a thread pool;
* RGB, serial: the same, one picture after the other;
* RGB, prepared while omega turns: what ``MurkoCentring`` does with an RGB camera. Each picture is
  encoded (``MurkoClient.prepare``) in a thread as soon as it is taken, while the goniometer
  moves to the next view; the request gets ready JPEGs. The encoding time is then printed apart
  ("prepare, hidden"): it overlaps the omega moves (hundreds of ms each) instead of adding to
  the request.

    .venv/bin/python benchmarks/bench_murko_client.py [--repeats N]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import threading
import time

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


def _run(client, pictures, server, repeats: int) -> dict[str, float]:
    client.predict(pictures)  # connect and warm up
    server.own_times.clear()
    walls, phases = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        views = client.predict(pictures)
        walls.append(time.perf_counter() - t0)
        phases.append(dict(client.last_timings))
    assert all(v.present for v in views)
    ms = {key: statistics.median(p[key] for p in phases) * 1000 for key in phases[0]}
    ms["wall"] = statistics.median(walls) * 1000
    ms["own"] = statistics.median(server.own_times) * 1000
    ms["overhead"] = ms["wall"] - ms["own"]
    ms["protocol"] = ms["overhead"] - ms["encode"]
    return ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    from mxcubecore_interleave.murko.client import DEFAULT_JPEG_QUALITY, MurkoClient
    from mxcubecore_interleave.murko.protocol import encode_jpeg
    from mxcubecore_interleave.simulation.murko_scene import CameraView, SampleScene, render
    from mxcubecore_interleave.murko.segment import describe

    view = CameraView(width=1360, height=1024, beam_x=680, beam_y=512,
                      pixels_per_mm_x=1 / 0.00045, pixels_per_mm_y=1 / 0.00045)
    scene = SampleScene(noise_level=3.0)
    start = scene.crystal_centred_position()
    images = [render(scene, dict(start, omega=float(om)), view, frame_index=k) for k, om in enumerate((0, 90, 180, 270))]
    jpegs = [encode_jpeg(im, DEFAULT_JPEG_QUALITY) for im in images]
    reply = {"original_image_shape": images[0].shape, "descriptions": [describe(im) for im in images]}
    payload = pickle.dumps(reply)
    server = ReplayServer(payload)
    cases = {}
    try:
        pooled = MurkoClient(port=server.port, timeout_s=10)
        serial = MurkoClient(port=server.port, timeout_s=10, encoder_map=lambda fn, items: [fn(i) for i in items])
        cases["camera JPEG (no encoding)"] = _run(pooled, jpegs, server, args.repeats)
        cases[f"RGB, pooled encoding (q{DEFAULT_JPEG_QUALITY})"] = _run(pooled, images, server, args.repeats)
        cases[f"RGB, serial encoding (q{DEFAULT_JPEG_QUALITY})"] = _run(serial, images, server, args.repeats)
        prepare_s = []
        for _ in range(5):
            t0 = time.perf_counter()
            prepared = [pooled.prepare(im) for im in images]
            prepare_s.append((time.perf_counter() - t0) / len(images))
        cases[f"RGB, prepared while omega turns (q{DEFAULT_JPEG_QUALITY})"] = _run(pooled, prepared, server, args.repeats)
        cases["RGB, serial encoding (q90, as before)"] = _run(
            MurkoClient(port=server.port, timeout_s=10, jpeg_quality=90,
                        encoder_map=lambda fn, items: [fn(i) for i in items]), images, server, args.repeats)
    finally:
        server.close()

    print(f"4 pictures of 1024x1360, reply {len(payload) / 1e6:.2f} MB, request "
          f"{sum(map(len, jpegs)) / 1e6:.2f} MB of JPEG (q{DEFAULT_JPEG_QUALITY}), median of {args.repeats}, ms:")
    print(f"  {'case':<40}{'wall':>7}{'server':>8}{'encode':>8}{'pickle':>8}{'trip-srv':>9}{'unpickle':>9}"
          f"{'parse':>7}{'protocol':>9}{'overhead':>9}")
    for name, ms in cases.items():
        print(f"  {name:<40}{ms['wall']:7.2f}{ms['own']:8.2f}{ms['encode']:8.2f}{ms['serialise']:8.2f}"
              f"{ms['round_trip'] - ms['own']:9.2f}{ms['unpickle']:9.2f}{ms['parse']:7.2f}{ms['protocol']:9.2f}"
              f"{ms['overhead']:9.2f}")
    print("  protocol = wall - server - encode; overhead = wall - server (what the goal is about)")
    print(f"  prepare, hidden behind each omega move: {statistics.median(prepare_s) * 1000:.2f} ms per picture")
    for name, ms in cases.items():
        met = ms["overhead"] <= GOAL_MS
        print(f"  goal: overhead <= {GOAL_MS} ms with {name}: {ms['overhead']:.2f} ms, {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

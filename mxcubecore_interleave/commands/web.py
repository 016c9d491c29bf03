"""``mxcube-interleave web``: mxcubeweb's server on loopback, on the plugin's mockup beamline.

mxcubeweb is optional at run time (it is in the ``test`` extra only): this command says how to
install it when it is missing. The server is mxcubeweb's own application, assembled the way its
``build_server_and_config`` does (``Config``, ``create_server``, ``MXCUBEApplication.init``,
``register_routes``); :func:`build_web_app` does it step by step only to place the user database
and the data under chosen folders and to start or not the video streamer, which
``build_server_and_config`` cannot be told.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from mxcubecore_interleave.testing import DEFAULT_CONFIG_DIR

LOOPBACK = "127.0.0.1"
INSTALL_HINT = (
    "mxcubeweb is not installed. It is an optional front end of mxcubecore-interleave; install "
    "it with  pip install 'mxcubeweb>=4.791,<4.792'  (or  pip install "
    "'mxcubecore-interleave[test]')  and run the command again."
)
_LOGGERS = ["exception_logger", "hwr_logger", "server_logger", "user_logger", "queue_logger",
            "ui_logger", "csp_logger", "server_access_logger"]


class WebUnavailableError(RuntimeError):
    """mxcubeweb cannot be imported (not installed, or broken)."""


def import_mxcubeweb() -> Any:
    """Import mxcubeweb (which monkey-patches gevent on import) or explain how to get it."""
    try:
        import mxcubeweb  # noqa: F401  (applies gevent's monkey patch, like its own server)
        from mxcubeweb import app as web_app
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "mxcubeweb":
            raise WebUnavailableError(INSTALL_HINT) from exc
        raise
    return web_app


def build_web_app(config_dir: str | os.PathLike[str] = DEFAULT_CONFIG_DIR, *,
                  data_root: str | os.PathLike[str] | None = None,
                  user_db: str | os.PathLike[str] | None = None,
                  host: str = LOOPBACK, port: int | None = None,
                  start_video: bool | None = None, video_port: int | None = None,
                  static_folder: str | os.PathLike[str] | None = None,
                  log_file: str = "", log_level: str = "",
                  rate_limiter: bool | None = None) -> tuple[Any, Any]:
    """Load the beamline from ``config_dir`` and build mxcubeweb's server on it.

    Returns ``(server, cfg)`` as ``mxcubeweb.build_server_and_config`` does: ``server.flask``
    is the Flask app, ``server.flask_socketio`` the socket.io server, ``server.run(cfg)``
    serves. ``None`` keeps the value of ``mxcube-web/server.yaml``.
    """
    web_app = import_mxcubeweb()
    from mxcubecore import HardwareRepository as HWR
    from mxcubeweb.config import Config
    from mxcubeweb.core.models.configmodels import RuntimeOptions
    from mxcubeweb.core.server.routes import register_routes
    from mxcubeweb.core.server.server import create_server

    from mxcubecore_interleave.testing import load_beamline

    load_beamline(config_dir, data_root=data_root)
    web_dir = HWR.get_hardware_repository().find_in_repository("mxcube-web")
    if not web_dir:
        raise FileNotFoundError(
            f"No mxcube-web/ folder (server.yaml, ui.yaml) on the lookup path {config_dir}")
    cfg = Config(web_dir)
    cfg.flask.HOST = host
    if port is not None:
        cfg.flask.PORT = int(port)
    if user_db is not None:
        cfg.flask.USER_DB_PATH = str(user_db)
    if start_video is not None:
        cfg.app.MXCUBE_STARTS_VIDEO_STREAM = bool(start_video)
    if video_port is not None:
        cfg.app.VIDEO_STREAM_PORT = int(video_port)
        cfg.app.VIDEO_STREAM_URL = f"http://{LOOPBACK}:{int(video_port)}"
    if rate_limiter is not None:
        cfg.flask.RATE_LIMITER_ENABLED = bool(rate_limiter)
    Path(cfg.flask.USER_DB_PATH).parent.mkdir(parents=True, exist_ok=True)

    options = RuntimeOptions(
        hwr_directory=str(Path(config_dir).resolve()),
        static_folder=str(static_folder) if static_folder else None,
        log_file=log_file, log_level=log_level, enabled_logger_list=_LOGGERS,
        allow_remote=False,
    )
    server = create_server(cfg, options)
    web_app.MXCUBEApplication.init(server, False, log_file, log_level, _LOGGERS, cfg)
    register_routes(server, web_app.MXCUBEApplication, cfg)
    return server, cfg


def stop_web_app(server: Any | None = None) -> None:
    """Stop what the application started (the video streamer) and unload the beamline."""
    from mxcubecore import HardwareRepository as HWR

    camera = getattr(getattr(HWR.beamline, "sample_view", None), "camera", None)
    stop = getattr(camera, "stop_streaming", None)
    if callable(stop):
        try:
            stop()
        except Exception:  # best effort at shutdown; the process ids are the camera's own
            logging.getLogger("HWR").exception("Could not stop the video streamer")
    if server is not None:
        server.close()
    HWR.uninit_hardware_repository()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "web", help="run mxcubeweb's server on loopback with the plugin's mockup beamline",
        description="Start mxcubeweb 4.791 on 127.0.0.1 with configuration/ (the interleaved "
                    "task and Murko centring enabled). Log in with proposal idtest0, any "
                    "password. See docs/enable-mxcubeweb.md.")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_DIR),
                        help="hardware-repository lookup path (default: %(default)s)")
    parser.add_argument("--data", default=None,
                        help="folder for the collected data (default: session.xml's folders)")
    parser.add_argument("--port", type=int, default=None, help="port (default: server.yaml's)")
    parser.add_argument("--video-port", type=int, default=None,
                        help="port of the video streamer (default: server.yaml's)")
    parser.add_argument("--user-db", default=None, help="sqlite user database file")
    parser.add_argument("--static-folder", default=None,
                        help="a built mxcubeweb UI (ui/build); the wheel contains only the API")
    parser.add_argument("--video", action="store_true",
                        help="start the sample camera's video streamer (mxcubeweb's "
                             "video-streamer; it listens on all interfaces, port "
                             "VIDEO_STREAM_PORT of server.yaml)")
    parser.add_argument("--log-file", default="", help="log file (default: console only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        server, cfg = build_web_app(
            args.config, data_root=args.data, user_db=args.user_db, port=args.port,
            start_video=True if args.video else None, video_port=args.video_port,
            static_folder=args.static_folder,
            log_file=args.log_file)
    except WebUnavailableError as exc:
        print(f"mxcube-interleave web: {exc}", file=sys.stderr)
        return 2
    print(f"mxcubeweb on http://{cfg.flask.HOST}:{cfg.flask.PORT}/  "
          f"(API under /mxcube/api/v0.1; log in as proposal idtest0)", flush=True)
    if cfg.app.MXCUBE_STARTS_VIDEO_STREAM:
        print(f"video: video-streamer on port {cfg.app.VIDEO_STREAM_PORT} (all interfaces)",
              flush=True)
    try:
        server.run(cfg)
    except KeyboardInterrupt:
        pass
    finally:
        stop_web_app(server)
    return 0

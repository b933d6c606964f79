"""A real RTSP server (GStreamer's gst-rtsp-server) serving one H.264 MP4 file, for the engine tests.

Run with Debian's system Python, which has the GObject bindings:
``/usr/bin/python3 rtsp_gst_server.py CLIP.mp4 PORT``. It serves
``rtsp://127.0.0.1:PORT/cam`` (loopback only) in real time, prints ``ready``
once listening, and runs until killed. FFmpeg cannot do this: its RTSP muxer
only pushes to a server, it does not listen.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
clip, port = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
# the file's own H.264, packetised as it is: no re-encoding, like a camera's stream
factory.set_launch(
    f'( filesrc location="{clip}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
)
factory.set_shared(True)  # one pipeline for every client, as a camera has one sensor
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{port}")
print("ready", flush=True)
GLib.MainLoop().run()

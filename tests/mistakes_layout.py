"""Broken submissions: submission layouts: misnamed files and sub-folders (issue 8: 13)."""

from __future__ import annotations

from tests.broken import (
    LAB01_CLIENT_CONNECT_CHECKS,
    LAB01_SERVER_CHECKS,
    LAB02_SERVER_ECHO_CHECKS,
    Broken,
)

LAB01_ALL_CHECKS = LAB01_SERVER_CHECKS | LAB01_CLIENT_CONNECT_CHECKS | {"client-no-server"}
LAB01_CLIENT_CHECKS = LAB01_CLIENT_CONNECT_CHECKS | {"client-no-server"}
MACOS_JUNK = (
    ("__MACOSX/alice-lab01/._server.py", "\x00\x05\x16\x07 resource fork\n"),
    (".DS_Store", "\x00\x00\x00\x01Bud1\n"),
)

LAB01: tuple[Broken, ...] = (
    Broken(
        "server-named-Server.py",
        "01-tcp-hello",
        (),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("server.py not found; found Server.py", "exactly server.py", "case-sensitive"),
        renames=(("server.py", "Server.py"),),
    ),
    Broken(
        "client-named-Client.py",
        "01-tcp-hello",
        (),
        fails=LAB01_CLIENT_CHECKS,
        mentions=("client.py not found; found Client.py", "all lower case", "case-sensitive"),
        renames=(("client.py", "Client.py"),),
    ),
    Broken(
        "files-in-one-folder",
        "01-tcp-hello",
        (),
        fails=frozenset(),
        mentions=("alice-lab01/", "graded that folder"),
        renames=(("server.py", "alice-lab01/server.py"), ("client.py", "alice-lab01/client.py")),
        adds=MACOS_JUNK,
    ),
    Broken(
        "files-in-nested-folder",
        "01-tcp-hello",
        (),
        fails=frozenset(),
        mentions=("submission/lab01/",),
        renames=(
            ("server.py", "submission/lab01/server.py"),
            ("client.py", "submission/lab01/client.py"),
        ),
    ),
    Broken(
        "files-in-two-folders",
        "01-tcp-hello",
        (),
        fails=LAB01_ALL_CHECKS,
        mentions=(
            "server.py not found; found lab01-final/server.py and lab01/server.py",
            "client.py not found; found lab01-final/client.py and lab01/client.py",
            "(lab01-final/ and lab01/)",
            "graded none of them",
        ),
        copies=(("server.py", "lab01-final/server.py"), ("client.py", "lab01-final/client.py")),
        renames=(("server.py", "lab01/server.py"), ("client.py", "lab01/client.py")),
    ),
    Broken(
        "server-named-server.py.txt",
        "01-tcp-hello",
        (),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("server.py not found; found server.py.txt", "ends in .txt after .py"),
        renames=(("server.py", "server.py.txt"),),
    ),
    Broken(
        "client-named-client-(1).py",
        "01-tcp-hello",
        (),
        fails=LAB01_CLIENT_CHECKS,
        mentions=("client.py not found; found client (1).py", "second copy"),
        renames=(("client.py", "client (1).py"),),
    ),
    Broken(
        "client-in-a-folder-beside-server",
        "01-tcp-hello",
        (),
        fails=LAB01_CLIENT_CHECKS,
        mentions=("client.py not found; found src/client.py", "next to server.py"),
        renames=(("client.py", "src/client.py"),),
    ),
)
LAB02: tuple[Broken, ...] = (
    Broken(
        "server-named-server.PY",
        "02-tcp-echo",
        (),
        fails=LAB02_SERVER_ECHO_CHECKS | {"server-listens", "sigterm-exit", "end-to-end"},
        mentions=("server.py not found; found server.PY", "all lower case"),
        renames=(("server.py", "server.PY"),),
    ),
)
LAB03: tuple[Broken, ...] = (
    Broken(
        "files-in-one-folder",
        "03-udp-ping",
        (),
        fails=frozenset(),
        mentions=("the folder lab3/",),
        renames=(("server.py", "lab3/server.py"), ("client.py", "lab3/client.py")),
        adds=(("__MACOSX/lab3/._client.py", "\x00\x05\x16\x07 resource fork\n"),),
    ),
    Broken(
        "client-named-client.txt",
        "03-udp-ping",
        (),
        fails=frozenset(
            {"client-no-loss", "client-drops", "client-duplicate", "client-late-reply"}
            | {"client-strays", "client-no-server"}
        ),
        mentions=("client.py not found; found client.txt", "ends in .txt instead of .py"),
        renames=(("client.py", "client.txt"),),
    ),
)

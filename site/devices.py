"""A sign-in's device as a holder recognises it (SPEC 11.2: "安卓手机浏览器"), from the
User-Agent header, and nothing finer: the record lets a holder spot a sign-in that was not
theirs without keeping a fingerprint of anyone's browser. Pure: no Flask."""

from __future__ import annotations

import re

from epermit.vocabulary import DeviceKind

# Order matters: WeChat and Alipay run on both phone systems; iPads and Android tablets are
# told apart from phones before the phone test.
_RULES: tuple[tuple[re.Pattern[str], DeviceKind], ...] = (
    (re.compile(r"MicroMessenger|AlipayClient|miniProgram", re.I), DeviceKind.MINI_PROGRAM),
    (re.compile(r"iPad|Tablet|Android(?!.*Mobile)", re.I), DeviceKind.TABLET),
    (re.compile(r"iPhone|iPod", re.I), DeviceKind.IPHONE),
    (re.compile(r"Android", re.I), DeviceKind.ANDROID_PHONE),
    (re.compile(r"Windows NT|Macintosh|X11|CrOS|Linux x86_64", re.I), DeviceKind.COMPUTER),
)


def coarse_device(user_agent: str | None) -> DeviceKind:
    agent = (user_agent or "")[:512]
    for pattern, kind in _RULES:
        if pattern.search(agent):
            return kind
    return DeviceKind.OTHER

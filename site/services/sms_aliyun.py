"""The production SMS backend: Alibaba Cloud SMS (Dysmsapi 2017-05-25 `SendSms`) through its
official SDK, which signs each request (ACS3-HMAC-SHA256).

Alibaba sends only approved templates, so a message goes out as a template key and its
parameters: `queue(..., template="login", params={"code": ...})` when the caller names one;
otherwise the fallback is the `code` template with `{"code": code}` for a message that
carries a code, and the `notice` template with `{"content": text}` (the text less the
signature, which Alibaba adds itself) for any other. `SMS_ALIYUN_TEMPLATES` maps these keys
to the template codes approved in the Alibaba console (README, "SMS").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from alibabacloud_dysmsapi20170525 import models as dysms
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import utils_models as openapi
from darabonba.runtime import RuntimeOptions

from epermit.models import SmsOutbox
from epermit.services.sms import SendFailed

SIGNATURE = "【广东省电子居住证】"
# Answers after which the same request can never succeed: the message is dead at once rather
# than tried MAX_ATTEMPTS times (Alibaba's SendSms error codes).
PERMANENT = {
    "isv.MOBILE_NUMBER_ILLEGAL",
    "isv.SMS_TEMPLATE_ILLEGAL",
    "isv.SMS_SIGNATURE_ILLEGAL",
    "isv.TEMPLATE_MISSING_PARAMETERS",
    "isv.INVALID_PARAMETERS",
    "isv.PARAM_LENGTH_LIMIT",
}


def template_of(message: SmsOutbox) -> tuple[str, dict[str, str]]:
    """The template key and its parameters (the fallback of the module docstring)."""
    if message.template:
        return message.template, dict(message.params or {})
    if message.code:
        return "code", {"code": message.code}
    return "notice", {"content": message.text.removeprefix(SIGNATURE)}


class AliyunSender:
    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        templates: Mapping[str, str],
        endpoint: str = "dysmsapi.aliyuncs.com",
        protocol: str = "https",
        connect_timeout_ms: int = 3000,
        read_timeout_ms: int = 10000,
    ) -> None:
        self.sign_name = sign_name
        self.templates = dict(templates)
        self.runtime = RuntimeOptions(
            connect_timeout=connect_timeout_ms, read_timeout=read_timeout_ms, autoretry=False
        )
        self.client = Client(
            openapi.Config(
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                endpoint=endpoint,
                protocol=protocol,
                connect_timeout=connect_timeout_ms,
                read_timeout=read_timeout_ms,
            )
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AliyunSender:
        missing = [
            key
            for key in (
                "SMS_ALIYUN_ACCESS_KEY_ID",
                "SMS_ALIYUN_ACCESS_KEY_SECRET",
                "SMS_ALIYUN_SIGN_NAME",
                "SMS_ALIYUN_TEMPLATES",
            )
            if not config.get(key)
        ]
        if missing:
            raise ValueError(f"SMS_BACKEND=aliyun needs {', '.join(missing)}")
        templates = config["SMS_ALIYUN_TEMPLATES"]
        if isinstance(templates, str):
            templates = json.loads(templates)
        return cls(
            access_key_id=config["SMS_ALIYUN_ACCESS_KEY_ID"],
            access_key_secret=config["SMS_ALIYUN_ACCESS_KEY_SECRET"],
            sign_name=config["SMS_ALIYUN_SIGN_NAME"],
            templates=templates,
            endpoint=config.get("SMS_ALIYUN_ENDPOINT") or "dysmsapi.aliyuncs.com",
            protocol=config.get("SMS_ALIYUN_PROTOCOL") or "https",
        )

    def send(self, message: SmsOutbox) -> None:
        key, params = template_of(message)
        template_code = self.templates.get(key)
        if template_code is None:
            raise SendFailed(f"no template configured for {key!r}", permanent=True)
        request = dysms.SendSmsRequest(
            phone_numbers=message.to,
            sign_name=self.sign_name,
            template_code=template_code,
            template_param=json.dumps(params, ensure_ascii=False),
            # Lets Alibaba's delivery reports be matched to the outbox row.
            out_id=str(message.id),
        )
        try:
            response = self.client.send_sms_with_options(request, self.runtime)
        except Exception as error:  # noqa: BLE001 - the SDK raises many kinds; all are a failure
            code = getattr(error, "code", None)
            raise SendFailed(f"{code or type(error).__name__}: {error}",
                             permanent=code in PERMANENT) from error
        body = response.body
        if body is None or body.code != "OK":
            code = body.code if body is not None else None
            raise SendFailed(f"{code}: {body.message if body else 'no body'}",
                             permanent=code in PERMANENT)

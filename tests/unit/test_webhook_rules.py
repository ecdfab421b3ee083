"""The webhook rules without I/O: target URLs, reachable addresses, a try's outcome, the
commands."""

from __future__ import annotations

import ipaddress
from typing import get_args

import pytest

from vetchart.api.schemas.webhooks import EventType
from vetchart.domain.errors import RuleViolation
from vetchart.domain.webhooks import (
    EVENT_TYPES,
    AttemptResult,
    DeliveryStatus,
    NewWebhook,
    WebhookChanges,
    address_allowed,
    check_target_url,
    status_after,
)

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",  # noqa: S104 - the address under test
    "0.1.2.3",
    "224.0.0.1",  # multicast
    "255.255.255.255",
    "240.0.0.1",  # reserved
    "198.18.0.1",  # benchmarking
    "::1",
    "::",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "fe80::1",  # link-local
    "fc00::1",  # unique local
    "fd12:3456::1",
    "ff02::1",  # multicast
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", REFUSED)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), allow_private=False)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=False)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "::1", "169.254.1.1", "fc00::1"])
def test_the_setting_allows_private_targets(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=True)


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1", "ff02::1"])  # noqa: S104
def test_unspecified_and_multicast_never(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), allow_private=True)


GOOD_URLS = [
    "https://hooks.example.com/in",
    "https://hooks.example.com:8443/in?practice=1",
    "https://8.8.8.8/in",
    "https://[2606:4700:4700::1111]/in",
    "https://example.com",
]
BAD_URLS = [
    "http://hooks.example.com/in",  # plain http
    "ftp://hooks.example.com/in",
    "hooks.example.com/in",  # not absolute
    "https:///in",  # no host
    "https://user:pass@hooks.example.com/in",
    "https://user@hooks.example.com/in",
    "https://hooks.example.com/in#part",
    "https://hooks.example.com:0/in",
    "https://hooks.example.com:99999/in",
    "https://127.0.0.1/in",
    "https://10.0.0.1/in",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/in",
    "https://[::ffff:127.0.0.1]/in",
    "https://[fe80::1]/in",
    "https://0.0.0.0/in",
    "https://localhost/in",
    "https://LOCALHOST./in",
    "https://api.localhost/in",
    "https://127.1/in",  # shorthand forms resolvers accept
    "https://2130706433/in",
    "https://0x7f.0.0.1/in",
    "https://hooks.example.com/" + "a" * 2048,
]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_good_target_urls(url: str) -> None:
    assert check_target_url(url, allow_private=False) == url


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_target_urls(url: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        check_target_url(url, allow_private=False)
    assert refused.value.field == "url"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/in", "http://localhost:9000/in", "https://10.0.0.1/in"]
)
def test_private_targets_and_http_when_allowed(url: str) -> None:
    assert check_target_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url", ["https://u:p@127.0.0.1/in", "ftp://127.0.0.1/in", "http://0.0.0.0/in"]
)
def test_some_urls_are_refused_even_when_private_targets_are_allowed(url: str) -> None:
    with pytest.raises(RuleViolation):
        check_target_url(url, allow_private=True)


# ---------------------------------------------------------------- a try's outcome


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_a_2xx_succeeds_on_any_try(code: int) -> None:
    for try_number in (1, 5, 8):
        result = AttemptResult(status_code=code)
        assert status_after(result, try_number=try_number, max_tries=8) is DeliveryStatus.SUCCEEDED


@pytest.mark.parametrize(
    "result",
    [
        AttemptResult(status_code=500),
        AttemptResult(status_code=404),
        AttemptResult(status_code=301),  # redirects are not followed: a failure
        AttemptResult(status_code=199),
        AttemptResult(error="timed out"),
    ],
)
def test_a_failure_stays_pending_until_the_last_try(result: AttemptResult) -> None:
    assert status_after(result, try_number=1, max_tries=3) is DeliveryStatus.PENDING
    assert status_after(result, try_number=2, max_tries=3) is DeliveryStatus.PENDING
    assert status_after(result, try_number=3, max_tries=3) is DeliveryStatus.DEAD
    assert status_after(result, try_number=4, max_tries=3) is DeliveryStatus.DEAD
    assert status_after(result, try_number=1, max_tries=1) is DeliveryStatus.DEAD


def test_a_refused_target_is_dead_at_once() -> None:
    refused = AttemptResult(allowed=False, error="resolves to 127.0.0.1")
    assert status_after(refused, try_number=1, max_tries=8) is DeliveryStatus.DEAD


# ---------------------------------------------------------------- commands


def test_new_webhook_sorts_and_dedupes_types() -> None:
    command = NewWebhook(
        url="https://x.example.com",
        event_types=("visit.changed", "appointment.changed", "visit.changed"),
        description="  Front desk  ",
    )
    assert command.event_types == ("appointment.changed", "visit.changed")
    assert command.description == "Front desk"


@pytest.mark.parametrize("types", [(), ("pet.deleted",), ("visit.changed", "nope")])
def test_new_webhook_needs_known_types(types: tuple[str, ...]) -> None:
    with pytest.raises(RuleViolation) as refused:
        NewWebhook(url="https://x.example.com", event_types=types)
    assert refused.value.field == "event_types"


def test_changes_keep_what_was_not_sent_and_refuse_nulls() -> None:
    assert WebhookChanges(is_active=False).values() == {"is_active": False}
    assert WebhookChanges(event_types=tuple(EVENT_TYPES)).values()["event_types"] == tuple(
        sorted(EVENT_TYPES)
    )
    for name in ("url", "event_types", "is_active"):
        with pytest.raises(RuleViolation):
            WebhookChanges(**{name: None})  # type: ignore[arg-type]
    assert WebhookChanges(description=None).values() == {"description": None}


def test_the_api_enum_is_the_published_types() -> None:
    assert set(get_args(EventType)) == EVENT_TYPES

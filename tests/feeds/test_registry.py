"""The feed registry: feeds.toml → FeedConfig, refused when wrong, naming feed and field."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from tracker.feeds.registry import (
    DEFAULT_INTERVAL,
    FeedConfig,
    RegistryError,
    load_registry,
)

BUNDLED = Path(__file__).parents[2] / "feeds" / "feeds.toml"


def write_registry(folder: Path, text: str) -> Path:
    registry = folder / "feeds.toml"
    registry.write_text(text, encoding="utf-8")
    return registry


def load_text(folder: Path, text: str) -> list[FeedConfig]:
    return load_registry(write_registry(folder, text))


def test_the_bundled_registry_loads_with_its_seed_feed_resolved_next_to_it() -> None:
    feeds = {feed.name: feed for feed in load_registry(BUNDLED)}

    assert list(feeds) == ["seed", "huggingface-stepfun", "github-step-audio"]
    seed = feeds["seed"]
    assert seed.adapter == "tracker"
    assert Path(seed.url).is_absolute()
    assert Path(seed.url).samefile(BUNDLED.parent / "seed.json")
    assert seed.interval == timedelta(hours=6)
    assert seed.enabled is True
    assert feeds["huggingface-stepfun"].options == {"org": "stepfun-ai", "company": "stepfun"}
    assert feeds["github-step-audio"].enabled is False


def test_a_missing_default_registry_means_no_feeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert load_registry() == []


def test_a_missing_registry_named_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"^feed registry not found: "):
        load_registry(tmp_path / "feeds.toml")


def test_a_missing_registry_may_be_allowed_explicitly(tmp_path: Path) -> None:
    assert load_registry(tmp_path / "feeds.toml", missing_ok=True) == []


def test_an_empty_registry_has_no_feeds(tmp_path: Path) -> None:
    assert load_text(tmp_path, "# nothing yet\n") == []


def test_omitted_fields_take_their_defaults(tmp_path: Path) -> None:
    (feed,) = load_text(
        tmp_path, '[[feeds]]\nname = "seed"\nadapter = "tracker"\nurl = "seed.json"\n'
    )

    assert feed == FeedConfig(
        name="seed",
        adapter="tracker",
        url=str(tmp_path / "seed.json"),
        interval=DEFAULT_INTERVAL,
        enabled=True,
        options={},
    )


def test_paths_are_resolved_against_the_registry_folder_and_urls_kept(tmp_path: Path) -> None:
    feeds = load_text(
        tmp_path,
        """
        [[feeds]]
        name = "relative"
        adapter = "tracker"
        url = "data/../feeds/one.json"
        [[feeds]]
        name = "file-url"
        adapter = "tracker"
        url = "file:two.json"
        [[feeds]]
        name = "absolute"
        adapter = "tracker"
        url = "/srv/feeds/three.json"
        [[feeds]]
        name = "remote"
        adapter = "tracker"
        url = "http://127.0.0.1:8080/feed.json"
        """,
    )

    assert [feed.url for feed in feeds] == [
        str(tmp_path / "feeds" / "one.json"),
        (tmp_path / "two.json").as_uri(),
        "/srv/feeds/three.json",
        "http://127.0.0.1:8080/feed.json",
    ]


def test_a_feed_config_is_immutable() -> None:
    feed = load_registry(BUNDLED)[0]

    with pytest.raises(dataclasses.FrozenInstanceError):
        feed.name = "other"  # type: ignore[misc]


FEED = '[[feeds]]\nname = "{name}"\nadapter = "{adapter}"\nurl = "{url}"\ninterval = "{interval}"\n'


def one_feed(
    name: str = "seed", adapter: str = "tracker", url: str = "seed.json", interval: str = "6h"
) -> str:
    return FEED.format(name=name, adapter=adapter, url=url, interval=interval)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            one_feed(adapter="rss"),
            "feed 'seed': adapter: unknown adapter 'rss'; "
            "known: tracker, huggingface, github-releases",
        ),
        (one_feed() + one_feed(), "feed 'seed': name: duplicate name"),
        (
            one_feed(interval="6 hours"),
            "feed 'seed': interval: invalid interval '6 hours': expected a number and a unit "
            '(s, m, h or d), such as "90s", "30m", "6h" or "1d"',
        ),
        (
            '[[feeds]]\nname = "seed"\nadapter = "tracker"\n',
            "feed 'seed': url: required: a path, file: URL or http(s):// URL",
        ),
        (
            one_feed(url="ftp://host/feed.json"),
            "feed 'seed': url: unsupported scheme ftp: expected http(s)://, file: or a path",
        ),
        (one_feed(url="https:///feed.json"), "feed 'seed': url: no host in 'https:///feed.json'"),
        (one_feed() + "intervall = '1h'\n", "feed 'seed': intervall: unknown field"),
        (one_feed() + "enabled = 'yes'\n", "feed 'seed': enabled: expected true or false"),
        (
            one_feed(name="My Feed"),
            "feed 'My Feed': name: required, a slug such as \"huggingface-stepfun\"",
        ),
        (
            '[[feeds]]\nadapter = "tracker"\nurl = "x.json"\n',
            "feed 'feeds[0]': name: required, a slug such as \"huggingface-stepfun\"",
        ),
        (
            one_feed(adapter="huggingface", url="https://huggingface.co/api/models?author=x"),
            "feed 'seed': options.company: required by the huggingface adapter",
        ),
        (
            one_feed() + "options = 'none'\n",
            "feed 'seed': options: expected a table [feeds.options]",
        ),
        ('[[feed]]\nname = "seed"\n', "unknown table or key 'feed': expected [[feeds]]"),
        ('feeds = "seed"\n', "feeds: expected [[feeds]] tables"),
    ],
)
def test_a_wrong_registry_is_refused_naming_the_feed_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(RegistryError) as caught:
        load_text(tmp_path, text)

    assert str(caught.value) == message


def test_a_registry_error_carries_the_feed_and_the_field(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as caught:
        load_text(tmp_path, one_feed(interval="soon"))

    assert (caught.value.feed, caught.value.field) == ("seed", "interval")


def test_invalid_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"feeds\.toml: invalid TOML: "):
        load_text(tmp_path, "[[feeds]\nname = ")


def test_adapter_options_are_kept_as_written(tmp_path: Path) -> None:
    (feed,) = load_text(
        tmp_path,
        one_feed(adapter="github-releases", url="https://github.com/o/r/releases.atom")
        + '[feeds.options]\ncompany = "stepfun"\nmodel = "Step-Audio"\nopen_weights = false\n',
    )

    assert feed.options == {"company": "stepfun", "model": "Step-Audio", "open_weights": False}

"""Where settings come from, in one place: the only module that reads the environment for them.

Each setting is taken from the first of these that has it:

1. a command-line flag;
2. its `TASKS_FLOWRUN_...` environment variable;
3. Prefect's own configuration, for the settings Prefect has (`server.host`, `server.port`,
   `logging.level`...): a `PREFECT__...` environment variable, else Prefect's config file
   (`~/.prefect/config.toml`, or `$PREFECT__USER_CONFIG_PATH`), read with Prefect's own loader;
4. the default.

`resolve()` returns each value with the place it came from, which `tasks-flowrun config` prints.
"""
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit, urlunsplit

ENV_PREFIX = "TASKS_FLOWRUN_"
PREFECT_ENV_PREFIX = "PREFECT__"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT = "default"


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and its source."""


@dataclass(frozen=True)
class Setting:
    """A resolved value and where it came from (`default`, `flag --port`,
    `env TASKS_FLOWRUN_PORT`, `env PREFECT__SERVER__PORT`, `prefect config file <path>`)."""

    value: Any
    source: str


class PrefectConfig:
    """Prefect's configuration as its clients see it, loaded with Prefect's public loader
    (`prefect.configuration.load_configuration`) in layers, so that each value's source is
    known: Prefect's defaults, plus its config files, plus `PREFECT__` variables."""

    def __init__(self) -> None:
        # the process environment: Prefect's loader reads its `PREFECT__...` variables there itself
        self.environ = os.environ
        self.user_path = os.path.expanduser(self.environ.get("PREFECT__USER_CONFIG_PATH", "~/.prefect/config.toml"))
        self.backend_path = os.path.expanduser(self.environ.get("PREFECT__BACKEND_CONFIG_PATH",
                                                                "~/.prefect/backend.toml"))
        try:
            # importing prefect loads its configuration: a broken config file fails here already
            from prefect.configuration import DEFAULT_CONFIG, load_configuration

            self._defaults = load_configuration(DEFAULT_CONFIG)
            self._user = load_configuration(DEFAULT_CONFIG, user_config_path=self.user_path)
            self._files = load_configuration(DEFAULT_CONFIG, self.user_path, self.backend_path)
            self._full = load_configuration(DEFAULT_CONFIG, self.user_path, self.backend_path,
                                            env_var_prefix=PREFECT_ENV_PREFIX.rstrip("_"))
        except Exception as exc:  # a TOML syntax error, an invalid key
            raise ConfigError(f"cannot read Prefect's configuration ({self.user_path} or {self.backend_path}): "
                              f"{exc}") from None

    def value(self, key: str) -> Any:
        """The effective value of a dotted key (`server.port`), Prefect's default included."""
        return _lookup(self._full, key)

    def get(self, key: str) -> Optional[Setting]:
        """The value of `key` if the user set it (a `PREFECT__` variable or a config file), else None."""
        value = _lookup(self._full, key)
        variable = self.variable_for(key)
        if variable is not None:
            return Setting(value, f"env {variable}")
        if value != _lookup(self._files, key):  # changed by a variable it derives from, e.g. server.ui.port
            return Setting(value, "env PREFECT__ (derived from other settings)")
        if value != _lookup(self._user, key):
            return Setting(value, f"prefect backend file {self.backend_path}")
        if value != _lookup(self._defaults, key):
            return Setting(value, f"prefect config file {self.user_path}")
        return None

    def variable_for(self, key: str) -> Optional[str]:
        """The `PREFECT__` variable setting `key` in this environment, if any (Prefect
        lower-cases what follows the prefix)."""
        parts = key.split(".")
        for name in self.environ:
            if name.startswith(PREFECT_ENV_PREFIX) and name[len(PREFECT_ENV_PREFIX):].lower().split("__") == parts:
                return name
        return None

    def source(self, key: str) -> str:
        setting = self.get(key)
        return setting.source if setting is not None else DEFAULT


def _lookup(config: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(config, Mapping) or part not in config:
            return None
        config = config[part]
    return config


# -- options ------------------------------------------------------------------------------

PrefectValue = Callable[[PrefectConfig], Optional[Setting]]


@dataclass(frozen=True)
class Option:
    """One setting: its name (a field of the settings object), its flag, how its text is
    parsed (flags and variables alike), and optionally how it follows Prefect's configuration.

    Its variable is `TASKS_FLOWRUN_<NAME>` unless `env` names another (Prefect Server's own
    names for the `api` query's overrides)."""

    name: str
    flag: Optional[str] = None
    parse: Callable[[str], Any] = str
    prefect: Optional[PrefectValue] = None
    secret: bool = False
    env: Optional[str] = None

    @property
    def variable(self) -> str:
        return self.env or ENV_PREFIX + self.name.upper()


def prefect_key(key: str, parse: Callable[[str], Any] = str) -> PrefectValue:
    """Follow Prefect's `key` when the user set it, parsed like the option's own text."""

    def value(config: PrefectConfig) -> Optional[Setting]:
        setting = config.get(key)
        if setting is None:
            return None
        try:
            return Setting(parse(str(setting.value)), f"{setting.source} ({key})")
        except ValueError as exc:
            raise ConfigError(f"Prefect's {key} = {setting.value!r} (from {setting.source}): {exc}") from None

    return value


def resolve(options: Sequence[Option], flags: Mapping[str, Any], defaults: Mapping[str, Any],
            prefect: Optional[PrefectConfig] = None) -> Dict[str, Setting]:
    """Each option's value and source. `flags` holds the values given on the command line
    (None or absent: not given); `defaults` the values used when nothing else sets one;
    `prefect` Prefect's configuration (loaded here if None and needed).

    Raises:
        - ConfigError: a variable or Prefect setting has a value the option cannot take
    """
    resolved: Dict[str, Setting] = {}
    for option in options:
        given = flags.get(option.name)
        text = os.environ.get(option.variable)
        if given is not None:
            resolved[option.name] = Setting(given, f"flag {option.flag}")
        elif text is not None and text.strip() != "":
            try:
                resolved[option.name] = Setting(option.parse(text.strip()), f"env {option.variable}")
            except ValueError as exc:
                raise ConfigError(f"${option.variable}: {exc}") from None
        else:
            found = None
            if option.prefect is not None:
                prefect = prefect if prefect is not None else PrefectConfig()
                found = option.prefect(prefect)
            resolved[option.name] = found if found is not None else Setting(defaults.get(option.name), DEFAULT)
    return resolved


# -- parsing (flags and variables share it; errors say what was expected) -------------------


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"must be more than 0 seconds, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise ValueError(f"must be 0 or more, got {text!r}")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a TCP port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise ValueError(f"a TCP port is 0 to 65535, got {text!r}")
    return value


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def log_level(text: str) -> str:
    level = text.strip().upper()
    if level == "WARN":
        level = "WARNING"
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return level


def sqlite_synchronous(text: str) -> str:
    """`--sqlite-synchronous`: normal or full."""
    mode = text.strip().lower()
    if mode not in ("normal", "full"):
        raise ValueError(f"expected normal or full, got {text!r}")
    return mode


def origin(text: str) -> str:
    """A browser origin, `scheme://host[:port]`, as browsers send it (lowercase, no path)."""
    if text.strip() == "*":
        raise ValueError("'*' is not allowed: list each origin (scheme://host[:port])")
    parts = urlsplit(text.strip().rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{text!r} is not an origin: expected scheme://host[:port], e.g. http://localhost:8080")
    return f"{parts.scheme}://{parts.netloc}".lower()


def origins(text: str) -> Tuple[str, ...]:
    """Several origins separated by commas or spaces (the variable of a repeatable flag)."""
    return tuple(origin(item) for item in text.replace(",", " ").split())


def url_host(text: str) -> str:
    """The host of Prefect's `server.host` (a URL such as `http://localhost`), or a bare host."""
    text = text.strip()
    host = urlsplit(text).hostname if "://" in text else text.strip("[]")
    if not host:
        raise ValueError(f"expected a host or a URL such as http://localhost, got {text!r}")
    return host


def http_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return text.strip().rstrip("/")


# -- showing --------------------------------------------------------------------------------


def masked_url(url: str) -> str:
    """A database URL with its password hidden."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def shown(option: Option, value: Any) -> str:
    """How `tasks-flowrun config` prints a value: secrets masked, tuples as lists."""
    if value is None or value == ():
        return "(none)"
    if option.secret:
        return "*** (set)"
    if isinstance(value, str) and "://" in value:
        return masked_url(value)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def json_value(option: Option, value: Any) -> Any:
    """A value for `tasks-flowrun config --json`: secrets masked, paths as text, tuples as lists."""
    if value is None:
        return None
    if option.secret:
        return "***"
    if isinstance(value, str) and "://" in value:
        return masked_url(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def table(rows: Iterable[Tuple[str, str, str]], header: Tuple[str, str, str] = ("setting", "value", "source")
          ) -> List[str]:
    """Rows as aligned text columns."""
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip() for row in rows]

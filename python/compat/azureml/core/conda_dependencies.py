"""azureml.core.conda_dependencies.CondaDependencies: a conda environment specification (the
hosted SDK's YAML file: name, channels, dependencies with a `pip:` list).

How trainyard runs it (RunConfiguration / Environment -> job fields): the pip list becomes
`pip_packages` (azureml-* names included: trainyard's environment builder provides them from the
compatibility package); conda packages other than `python` and `pip` become `conda_packages`
(which need a conda executable, README "Python environments"). A `python=X` pin alone needs no
conda: the job runs on trainyard's interpreter."""

import io
import os
import re
import sys

import yaml

__all__ = ["CondaDependencies"]

DEFAULT_NAME = "project_environment"
_AZUREML_DEFAULTS = "azureml-defaults"
_NAME_OF = re.compile(r"^\s*([A-Za-z0-9_.\-]+)")


def _package_name(spec):
    m = _NAME_OF.match(spec)
    return (m.group(1) if m else spec).lower().replace("_", "-")


class CondaDependencies:
    """A conda specification: read from `conda_dependencies_file_path`, or empty (with a python
    pin to the current interpreter's version)."""

    def __init__(self, conda_dependencies_file_path=None, _underlying_structure=None):
        if conda_dependencies_file_path is not None:
            with open(conda_dependencies_file_path, encoding="utf-8") as f:
                _underlying_structure = yaml.safe_load(f)
            if not isinstance(_underlying_structure, dict):
                raise ValueError("{}: not a conda environment specification (expected a YAML "
                                 "mapping)".format(conda_dependencies_file_path))
        if _underlying_structure is None:
            _underlying_structure = {
                "name": DEFAULT_NAME,
                "dependencies": ["python={}.{}.{}".format(*sys.version_info[:3])],
                "channels": ["anaconda", "conda-forge"],
            }
        self._name = _underlying_structure.get("name") or DEFAULT_NAME
        self._channels = [str(c) for c in _underlying_structure.get("channels") or []]
        self._conda = []
        self._pip = []
        self._pip_options = []
        for dep in _underlying_structure.get("dependencies") or []:
            if isinstance(dep, dict) and "pip" in dep:
                for p in dep["pip"] or []:
                    p = str(p)
                    (self._pip_options if p.startswith("-") else self._pip).append(p)
            else:
                self._conda.append(str(dep))

    @staticmethod
    def create(pip_packages=None, conda_packages=None, python_version=None, pin_sdk_version=True,
               pip_indexurl=None):
        """A specification with these packages, `python=<python_version>` (default: this
        interpreter's version) and, as the hosted SDK adds, azureml-defaults among the pip
        packages."""
        cd = CondaDependencies()
        if python_version is not None:
            cd.set_python_version(python_version)
        cd.add_pip_package(_AZUREML_DEFAULTS)
        for p in conda_packages or []:
            cd.add_conda_package(p)
        for p in pip_packages or []:
            cd.add_pip_package(p)
        if pip_indexurl:
            cd.set_pip_option("--index-url " + pip_indexurl)
        return cd

    @staticmethod
    def merge_requirements(requirements):
        seen, out = set(), []
        for r in requirements:
            if _package_name(r) not in seen:
                seen.add(_package_name(r))
                out.append(r)
        return out

    # ---- packages ----

    @property
    def conda_packages(self):
        return iter(list(self._conda))

    @property
    def pip_packages(self):
        return iter(list(self._pip))

    @property
    def conda_channels(self):
        return iter(list(self._channels))

    @property
    def pip_options(self):
        return iter(list(self._pip_options))

    def _add(self, items, spec):
        name = _package_name(spec)
        for i, existing in enumerate(items):
            if _package_name(existing) == name:
                items[i] = spec
                return
        items.append(spec)

    def add_conda_package(self, conda_package):
        self._add(self._conda, str(conda_package))

    def add_pip_package(self, pip_package):
        self._add(self._pip, str(pip_package))

    def remove_conda_package(self, conda_package):
        self._conda = [p for p in self._conda if _package_name(p) != _package_name(conda_package)]

    def remove_pip_package(self, pip_package):
        self._pip = [p for p in self._pip if _package_name(p) != _package_name(pip_package)]

    def add_channel(self, channel):
        if channel not in self._channels:
            self._channels.append(channel)

    def remove_channel(self, channel):
        self._channels = [c for c in self._channels if c != channel]

    def set_pip_option(self, pip_option):
        self._pip_options = [o for o in self._pip_options
                             if o.split()[0] != pip_option.split()[0]] + [pip_option]

    def add_tensorflow_conda_package(self, *args, **kwargs):
        raise NotImplementedError("CondaDependencies.add_tensorflow_conda_package: trainyard "
                                  "runs PyTorch jobs; add packages with add_conda_package")

    add_tensorflow_pip_package = add_tensorflow_conda_package

    def get_python_version(self):
        for p in self._conda:
            if _package_name(p) == "python":
                return re.sub(r"^python\s*=*\s*", "", p) or None
        return None

    def set_python_version(self, version):
        self._add(self._conda, "python={}".format(version))

    def _trainyard_packages(self):
        """(pip_packages, conda_packages) for a trainyard job: the python pin and pip are left
        out when nothing else comes from conda (the job's interpreter runs it)."""
        conda = [p for p in self._conda if _package_name(p) not in ("python", "pip")]
        return list(self._pip), (list(self._conda) if conda else [])

    # ---- files ----

    def _as_dict(self):
        deps = list(self._conda)
        if self._pip or self._pip_options:
            deps.append({"pip": list(self._pip_options) + list(self._pip)})
        out = {"name": self._name, "dependencies": deps}
        if self._channels:
            out["channels"] = list(self._channels)
        return out

    def serialize_to_string(self):
        """The specification as the YAML text of a conda environment file."""
        out = io.StringIO()
        out.write("# Conda environment specification (trainyard's azureml compatibility "
                  "package).\n# pip packages named azureml-* are provided by trainyard, not "
                  "installed.\n\n")
        yaml.safe_dump(self._as_dict(), out, default_flow_style=False, sort_keys=False)
        return out.getvalue()

    def save(self, path=None):
        path = path or "conda_dependencies.yml"
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.serialize_to_string())
        return os.path.abspath(path)

    def save_to_file(self, base_directory, conda_file_path=None):
        return self.save(os.path.join(base_directory, conda_file_path or
                                      "conda_dependencies.yml"))

    @staticmethod
    def _from_pip_requirements(file_path):
        cd = CondaDependencies()
        with open(file_path, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    (cd.set_pip_option if line.startswith("-") else cd.add_pip_package)(line)
        return cd

    def __eq__(self, other):
        return isinstance(other, CondaDependencies) and self._as_dict() == other._as_dict()

    def __repr__(self):
        return self.serialize_to_string()

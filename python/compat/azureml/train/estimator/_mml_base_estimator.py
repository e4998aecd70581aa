"""The hosted SDK's estimators (azureml.train.estimator.Estimator, azureml.train.dnn.PyTorch) as
trainyard job configurations.

An estimator keeps the hosted constructor's parameters and turns them, at construction, into a
`trainyard.Estimator` / `trainyard.PyTorch` (the estimator form of a job file), so a bad value is
refused at once with the message `trainyard submit` gives for the same job file. `experiment.submit`
takes it through `_to_trainyard()` (docs/sdk.md).

What trainyard cannot do is refused with NotImplementedError naming the trainyard way
(containers: custom_docker_image, custom_docker_base_image, image_registry_details; resume_from;
TensorFlow parameter servers); what only concerns the hosted service's machines is accepted and
ignored with a printed note (vm_size, vm_priority, shm_size, source_directory_data_store).

The mapping:
- compute_target: a ComputeTarget (its name), a target name, "local", or None (local).
- script_params: {flag: value} in order; str/int/float/bool become their str() ("True",
  "0.01"), None a bare flag, a Datastore or a data reference (ds.path(p).as_mount() /
  .as_download()) an input named after the flag ("--data_dir" -> inputs.data_dir, which the
  script also finds in $TRAINYARD_INPUT_DATA_DIR).
- inputs=[refs]: inputs named after each reference's data_reference_name.
- distributed_backend "mpi" / "gloo" / "nccl", or distributed_training Mpi(N) / Gloo() / Nccl()
  (or MpiConfiguration / PyTorchConfiguration): trainyard's mpi / pytorch backends.
- conda_packages, pip_packages, pip_requirements_file (relative to source_directory): as they
  are; conda_dependencies_file(_path): its conda and pip lists (python=... noted and skipped);
  pip_requirements_file_path: as pip_requirements_file inside source_directory, else its lines;
  environment_definition: the Environment's packages, interpreter and variables (replacing the
  estimator's packages, as the hosted SDK does); user_managed=True: no packages allowed.
- node_count, process_count_per_node, use_gpu, environment_variables,
  max_run_duration_seconds: the fields of the same names. use_docker: accepted (runs are
  processes either way).
"""

import os
import re
import sys

from azureml.train._distributed_training import backend_fields

__all__ = ["MMLBaseEstimator"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _note(message):
    """A printed note, for a parameter that is accepted but has no effect under trainyard."""
    print(f"[trainyard] {message}", file=sys.stdout, flush=True)


def _target_name(compute_target):
    """compute_target: a ComputeTarget (its name), a name, "local", or None (trainyard's default
    target, local)."""
    if compute_target is None or isinstance(compute_target, str):
        return compute_target
    name = getattr(compute_target, "name", None)
    if isinstance(name, str):
        return name
    raise ValueError(f"compute_target: expected a compute target, its name or 'local', got "
                     f"{compute_target!r}")


def _input_name(hint, taken):
    """A trainyard input name (an identifier) for a data reference, unique among `taken`."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", str(hint).lstrip("-")) or "input"
    if not _IDENTIFIER.match(base):
        base = "input_" + base
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def _script_value(flag, value, inputs):
    """One script_params value as the estimator form's text (None: a bare flag)."""
    if value is None:
        return None
    if hasattr(value, "_trainyard_input"):  # a Datastore, or its path(...).as_mount()/as_download()
        name = _input_name(flag, inputs)  # --data_dir: inputs.data_dir, $TRAINYARD_INPUT_DATA_DIR
        inputs[name] = value._trainyard_input()
        return "${{inputs.%s}}" % name
    if isinstance(value, (str, bool, int, float)):
        return str(value)  # as the hosted SDK passes them: True -> "True", 0.01 -> "0.01"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple, dict)):
        return value  # trainyard reports these, with the CLI's message
    raise ValueError(f'script_params["{flag}"]: expected a string, number, boolean, None (a bare '
                     f"flag) or a data reference, got {type(value).__name__}")


def _requirements(path):
    """The requirement lines of a pip requirements file outside source_directory."""
    packages = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split(" #")[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("-"):
                raise NotImplementedError(
                    f"pip_requirements_file_path: option lines such as {line!r} are read only "
                    f"from a requirements file inside source_directory (pip_requirements_file=)")
            packages.append(line)
    return packages


def _conda_file(path):
    """(conda_packages, pip_packages) of a conda environment file."""
    import yaml

    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    conda, pip = [], []
    for dep in doc.get("dependencies") or []:
        if isinstance(dep, dict):
            pip += [str(p) for p in dep.get("pip") or []]
        elif re.match(r"python\s*([=<>!~]|$)", str(dep)):
            _note(f"conda dependency {dep!r} ignored: runs use trainyard's interpreter "
                  f"($TRAINYARD_PYTHON, else /usr/bin/python3)")
        elif str(dep) != "pip":
            conda.append(str(dep))
    if doc.get("channels"):
        _note(f"conda channels {doc['channels']} ignored: trainyard's conda environments use the "
              f"conda installation's configured channels")
    return conda, pip


class MMLBaseEstimator:
    """The parameters every hosted estimator shares, mapped onto trainyard's estimator form."""

    _trainyard_class = "Estimator"

    def __init__(self, source_directory, *, compute_target=None, vm_size=None, vm_priority=None,
                 entry_script=None, script_params=None, node_count=1, process_count_per_node=1,
                 distributed_backend=None, distributed_training=None, use_gpu=False,
                 use_docker=True, custom_docker_base_image=None, custom_docker_image=None,
                 image_registry_details=None, user_managed=False, conda_packages=None,
                 pip_packages=None, conda_dependencies_file_path=None,
                 pip_requirements_file_path=None, conda_dependencies_file=None,
                 pip_requirements_file=None, environment_variables=None,
                 environment_definition=None, inputs=None, source_directory_data_store=None,
                 shm_size=None, resume_from=None, max_run_duration_seconds=None, **private):
        for key in private:
            if not key.startswith("_"):
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                                f"{key!r}")
        for name, value in (("custom_docker_image", custom_docker_image),
                            ("custom_docker_base_image", custom_docker_base_image),
                            ("image_registry_details", image_registry_details)):
            if value is not None:
                raise NotImplementedError(
                    f"{name}: trainyard runs no containers. Runs use an interpreter and cached "
                    f"package environments instead: pip_packages=/conda_packages= here, or an "
                    f"Environment whose python.interpreter_path names the interpreter "
                    f"(environment_definition=), or trainyard.Estimator(python=...)")
        if resume_from is not None:
            raise NotImplementedError(
                "resume_from: not implemented in trainyard; pass the checkpoint folder as an input "
                "instead, e.g. script_params={'--resume-from': "
                "ds.path('checkpoints').as_download()}, and load it in the script")
        self.source_directory = os.path.abspath(os.fspath(source_directory))
        self.entry_script = entry_script
        self.script_params = dict(script_params or {})
        self.compute_target = compute_target
        target = _target_name(compute_target)
        for name, value in (("vm_size", vm_size), ("vm_priority", vm_priority)):
            if value is not None:
                _note(f"{name}={value!r} ignored: trainyard creates no machines; the run goes "
                      f"to compute target {target or 'local'!r}")
        if shm_size is not None:
            _note(f"shm_size={shm_size!r} ignored: runs are processes, not containers, and share "
                  f"the machine's /dev/shm")
        if source_directory_data_store is not None:
            _note("source_directory_data_store ignored: trainyard keeps each run's snapshot of "
                  "source_directory in the workspace")

        fields = {"source_directory": self.source_directory}
        if entry_script is not None:
            fields["entry_script"] = entry_script
        run_inputs = {}
        params = {}
        for flag, value in self.script_params.items():
            params[flag] = _script_value(flag, value, run_inputs)
        for i, ref in enumerate(inputs or []):
            if not hasattr(ref, "_trainyard_input"):
                raise ValueError(f"inputs[{i}]: expected a data reference "
                                 f"(ds.path(...).as_mount() or .as_download()), got {ref!r}")
            hint = (ref._trainyard_input_name() if hasattr(ref, "_trainyard_input_name")
                    else getattr(ref, "data_reference_name", None) or f"input_{i}")
            run_inputs[_input_name(hint, run_inputs)] = ref._trainyard_input()
        if params:
            fields["script_params"] = params
        if run_inputs:
            fields["inputs"] = run_inputs
        if target is not None:
            fields["compute_target"] = target
        fields["node_count"] = node_count
        fields["process_count_per_node"] = process_count_per_node
        distributed = backend_fields(distributed_backend, distributed_training)
        for key in ("node_count", "process_count_per_node"):
            if key in distributed and fields[key] not in (1, distributed[key]):
                raise ValueError(f"{key}: {fields[key]} here, but {distributed[key]} in "
                                 f"distributed_training; give it once")
        fields.update(distributed)
        fields["use_gpu"] = use_gpu
        if max_run_duration_seconds is not None:
            fields["max_run_duration_seconds"] = max_run_duration_seconds
        env_vars = dict(environment_variables or {})

        conda = list(conda_packages or [])
        pip = list(pip_packages or [])
        requirements = pip_requirements_file
        for name, path in (("conda_dependencies_file", conda_dependencies_file),
                           ("conda_dependencies_file_path", conda_dependencies_file_path)):
            if path is not None:
                if name == "conda_dependencies_file" and not os.path.isabs(path):
                    path = os.path.join(self.source_directory, path)
                more_conda, more_pip = _conda_file(path)
                conda += more_conda
                pip += more_pip
        if pip_requirements_file_path is not None:
            path = os.path.abspath(os.fspath(pip_requirements_file_path))
            inside = os.path.relpath(path, self.source_directory)
            if not inside.startswith(".."):
                requirements = requirements or inside
            else:
                pip += _requirements(path)
        python = None
        if environment_definition is not None:
            python, env_conda, env_pip, more_vars = self._environment(environment_definition)
            # The hosted SDK: an environment definition replaces the estimator's own packages.
            conda, pip, requirements = env_conda, env_pip, None
            env_vars = {**more_vars, **env_vars}
        if user_managed and (conda or pip or requirements):
            raise ValueError("user_managed=True uses the interpreter as it is, so conda_packages, "
                             "pip_packages and requirement files cannot be installed into it; "
                             "drop user_managed or the packages")
        if conda:
            fields["conda_packages"] = conda
        if pip:
            fields["pip_packages"] = pip
        if requirements is not None:
            fields["pip_requirements_file"] = os.fspath(requirements)
        if python is not None:
            fields["python"] = python
        if env_vars:
            fields["environment_variables"] = env_vars
        self.use_docker = use_docker
        self._fields = fields
        self._config = self._build()

    @staticmethod
    def _environment(env):
        """(python, conda_packages, pip_packages, environment_variables) of an
        azureml.core.Environment."""
        if hasattr(env, "_trainyard_fields"):  # azureml.core.Environment (docker refused there)
            fields = env._trainyard_fields()
            return (fields.get("python"), list(fields.get("conda_packages") or []),
                    list(fields.get("pip_packages") or []),
                    dict(fields.get("environment_variables") or {}))
        docker = getattr(env, "docker", None)
        if docker is not None and getattr(docker, "enabled", False) and (
                getattr(docker, "base_dockerfile", None) or getattr(docker, "_custom_image", None)):
            raise NotImplementedError(
                "environment_definition with a docker image: trainyard runs no containers; use "
                "the environment's python.conda_dependencies or python.interpreter_path")
        python_section = getattr(env, "python", None)
        python = None
        conda, pip = [], []
        if python_section is not None:
            if getattr(python_section, "user_managed_dependencies", False):
                python = getattr(python_section, "interpreter_path", None) or None
            deps = getattr(python_section, "conda_dependencies", None)
            if deps is not None and not getattr(python_section, "user_managed_dependencies",
                                                False):
                conda = [p for p in getattr(deps, "conda_packages", []) or []
                         if not re.match(r"python\s*([=<>!~]|$)", str(p)) and p != "pip"]
                pip = list(getattr(deps, "pip_packages", []) or [])
        variables = dict(getattr(env, "environment_variables", None) or {})
        return python, conda, pip, variables

    def _build(self):
        import trainyard

        return getattr(trainyard, self._trainyard_class)(**self._fields)

    def _to_trainyard(self):
        """The trainyard job configuration (docs/sdk.md); validated when this was constructed."""
        return self._config

    @property
    def fields(self):
        """The trainyard estimator-form document this estimator submits (a copy)."""
        return dict(self._config.fields) if hasattr(self._config, "fields") else dict(self._fields)

    def dry_run(self, ws=None):
        """trainyard's launch plan for this estimator (what `trainyard submit --dry-run` shows)."""
        return self._config.dry_run(ws)

    @property
    def run_config(self):
        raise NotImplementedError(
            f"{type(self).__name__}.run_config: estimators are trainyard job configurations; read "
            f"them with .fields (the job document) or .dry_run() (the launch plan), or build a "
            f"ScriptRunConfig with a RunConfiguration instead")

    def __repr__(self):
        return f"{type(self).__name__}({self._fields!r})"

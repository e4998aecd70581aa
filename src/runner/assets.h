// Registered environments and data assets (issue 14, items 4 and 5): what `trainyard env create`
// and `trainyard data create` store, and how a job's `environment: azureml:...` and inputs'
// `path: azureml:...` resolve to them at submit.
//
//   environment: azureml:NAME:VERSION | azureml:NAME@latest
//                | azureml://registries/R/environments/NAME/versions/V (or /labels/latest)
//     a registered environment of the workspace (its conda_file's pip dependencies become the
//     job's pip packages), or a hosted curated name (AzureML-sklearn-*, AzureML-pytorch-*,
//     AzureML-ACPT-pytorch-*, AzureML-minimal-*), which runs on the job's interpreter (Debian's
//     torch / sklearn) instead of its image; AzureML-tensorflow-* is refused.
//   inputs.X.path: azureml:NAME:V | azureml:NAME@latest   a data asset of the workspace
//                  azureml://datastores/NAME/paths/P       <workspace>/datastores/NAME/P
//                  https://... or http://... (uri_file)    downloaded into the workspace's
//                                                          download cache (runner/download.h)
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "spec/job_spec.h"
#include "store/workspace.h"

namespace trainyard::runner {

// Reads the hosted environment YAML (`$schema`, `name`, `version`, `description`, `image`,
// `build` {path, dockerfile_path}, `conda_file` (a path relative to the YAML's folder, or the
// conda file inline), `tags`, `os_type`, `inference_config` refused) into a record to store;
// `name`/`version` given here override the file's. Problems name origin:line:column.
Result<store::AssetRecord> EnvironmentFromYaml(const std::string& path, const std::string& name,
                                               const std::string& version);

// A data asset from `path` (a local file or folder, made absolute; an
// azureml://datastores/NAME/paths/P; or an http(s):// URL, a uri_file) and its type ("" =
// uri_file for a file or a URL, else uri_folder). A local path must exist (checked now, and again
// at submit); a URL is downloaded only when a job using the asset is submitted.
Result<store::AssetRecord> DataFromPath(store::Workspace* ws, const std::string& path,
                                        const std::string& type, const std::string& description);
// The hosted data asset YAML: `$schema`, `name`, `version`, `type` (uri_file, uri_folder),
// `path` (relative to the YAML's folder), `description`, `tags`. mltable is refused.
Result<store::AssetRecord> DataFromYaml(store::Workspace* ws, const std::string& path,
                                        const std::string& name, const std::string& version);

// The local folder of a datastore path "azureml://datastores/NAME/paths/P":
// <workspace>/datastores/NAME/P. InvalidArgument when `uri` is not one.
Result<std::string> DatastorePath(const std::string& workspace_dir, const std::string& uri);

// Resolves spec->registered_environment and every input's `asset` in place (python, pip and conda
// packages; input paths), before the spec is validated. Adds to `notes` what each became (for the
// plan and the run's environment log). Unknown names and versions are refused naming them and
// listing what exists. Web URLs are fetched (runner/download.h, DownloadOptionsFromEnv) here, also
// for a dry run (the plan's input is the cached file); a failed download is refused naming the
// input, the URL and the reason.
Status ResolveAssets(store::Workspace* ws, spec::JobSpec* spec, std::vector<std::string>* notes);

}  // namespace trainyard::runner

// Deployments: supervised model servers recorded in the workspace (see the issue-16 design in
// docs/serving.md). Filled in by the deployments work.
#pragma once

// The JSON forms of requests and responses (pure functions; no I/O):
//   /score, /predictions/{m}:  {"data": <nested lists>} or a bare nested list; one input; the
//                              items are the outer list (a batch). The answer is the output as
//                              nested lists (several outputs: a list of them).
//   /v2/models/{m}/infer:      the Open Inference Protocol's inference request and response
//                              ("inputs": [{"name", "shape", "datatype", "data"}], data flat or
//                              nested in row-major order; "outputs" likewise, data flat).
// Errors are InvalidArgument with a message naming the field and what was expected.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "serve/model_service.h"
#include "serve/tensor.h"

namespace trainyard::serve {

// {"data": x} or x -> one tensor named "input__0" of `dtype` (the model's input dtype when known,
// else FP32; integers in the JSON stay exact for integer dtypes). Every row must have the same
// length ("data[3] has 7 values, data[0] has 8").
Result<Tensor> TensorFromData(const nlohmann::json& body, DType dtype);
// A tensor as nested lists (a scalar as a number; BYTES as strings; FP16/BF16 as numbers).
nlohmann::json TensorToNested(const Tensor& tensor);

struct OipRequest {
  std::string id;  // echoed in the response when present
  std::vector<Tensor> inputs;
  std::vector<std::string> output_names;  // "outputs": [{"name"}] when given
};
// Checks every input's shape against its data length and datatype ("inputs[0].data has 63
// values, shape [1, 64] needs 64") and, when `expected` is not empty, the names, datatypes and
// shapes against the model's (-1 matches any size).
Result<OipRequest> ParseOipRequest(const nlohmann::json& body,
                                   const std::vector<TensorSpec>& expected);
nlohmann::json OipResponse(const ModelInfo& model, const std::string& id,
                           const std::vector<Tensor>& outputs);
// GET /v2/models/{m}: {"name", "versions", "platform", "inputs", "outputs"}.
nlohmann::json OipModelMetadata(const ModelInfo& model);

}  // namespace trainyard::serve

#include "runner/assets.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "testing/temp_dir.h"

namespace trainyard::runner {
namespace {

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(Assets, DatastorePathsStayInTheirFolder) {
  EXPECT_EQ(*DatastorePath("/ws", "azureml://datastores/blob/paths/a/b.csv"),
            "/ws/datastores/blob/a/b.csv");
  EXPECT_EQ(*DatastorePath("/ws", "azureml://datastores/blob/paths/example-data/"),
            "/ws/datastores/blob/example-data");
  EXPECT_EQ(*DatastorePath("/ws", "azureml://datastores/blob/paths/"), "/ws/datastores/blob");
  EXPECT_FALSE(DatastorePath("/ws", "azureml://datastores/blob/paths/../x").ok());
  EXPECT_FALSE(DatastorePath("/ws", "azureml://datastores/blob/paths/a/../../x").ok());
  EXPECT_FALSE(DatastorePath("/ws", "azureml://datastores/blob/x.csv").ok());
  EXPECT_FALSE(DatastorePath("/ws", "azureml://datastores//paths/x").ok());
}

TEST(Assets, EnvironmentYamlReadsItsCondaFile) {
  testing::TempDir dir;
  Write(dir.path() + "/conda.yaml",
        "name: e\nchannels: [conda-forge]\ndependencies:\n  - python=3.8\n  - pip=21.2.4\n"
        "  - numpy\n  - pip:\n      - mlflow\n      - azureml-mlflow==1.38.0\n");
  Write(dir.path() + "/env.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
        "name: docker-image-plus-conda-example\nversion: '2'\ndescription: d\n"
        "conda_file: conda.yaml\n");
  auto rec = EnvironmentFromYaml(dir.path() + "/env.yml", "", "");
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  EXPECT_EQ(rec->name, "docker-image-plus-conda-example");
  EXPECT_EQ(rec->version, "2");
  EXPECT_EQ(rec->description, "d");
  auto def = nlohmann::json::parse(rec->definition_json);
  EXPECT_EQ(def["python"], "3.8");
  EXPECT_EQ(def["conda"], nlohmann::json({"numpy"}));
  EXPECT_EQ(def["pip"], nlohmann::json({"mlflow", "azureml-mlflow==1.38.0"}));
  EXPECT_EQ(def["channels"], nlohmann::json({"conda-forge"}));

  auto renamed = EnvironmentFromYaml(dir.path() + "/env.yml", "other", "9");
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->name, "other");
  EXPECT_EQ(renamed->version, "9");
}

TEST(Assets, EnvironmentYamlProblemsNameTheField) {
  testing::TempDir dir;
  Write(dir.path() + "/env.yml", "name: e\nimag: python\n");
  auto rec = EnvironmentFromYaml(dir.path() + "/env.yml", "", "");
  ASSERT_FALSE(rec.ok());
  EXPECT_NE(rec.status().message().find("env.yml:2:1: imag: unknown field (did you mean "
                                        "\"image\"?)"),
            std::string::npos)
      << rec.status().ToString();
  Write(dir.path() + "/empty.yml", "name: e\ndescription: nothing\n");
  auto empty = EnvironmentFromYaml(dir.path() + "/empty.yml", "", "");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("needs image, build or conda_file"), std::string::npos);
  Write(dir.path() + "/missing.yml", "name: e\nconda_file: nope.yml\n");
  EXPECT_FALSE(EnvironmentFromYaml(dir.path() + "/missing.yml", "", "").ok());
}

}  // namespace
}  // namespace trainyard::runner

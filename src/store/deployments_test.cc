#include "store/deployments.h"

#include <gtest/gtest.h>

#include "testing/temp_dir.h"

namespace trainyard::store {
namespace {

DeploymentRecord Deployment(const std::string& name) {
  DeploymentRecord d;
  d.name = name;
  d.spec_json = "{\"name\":\"" + name + "\"}";
  d.models = {{"digits", 1}, {"resnet", 3}};
  return d;
}

TEST(Deployments, CreateGetListAndModels) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  DeploymentRecord a = Deployment("web");
  ASSERT_TRUE(CreateDeployment(ws->get(), &a).ok());
  EXPECT_GT(a.created_at, 0);
  EXPECT_EQ(a.created_at, a.updated_at);
  DeploymentRecord b = Deployment("api");
  b.models = {{"digits", 2}};
  ASSERT_TRUE(CreateDeployment(ws->get(), &b).ok());

  auto got = GetDeployment(ws->get(), "web");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->state, kDeployTransitioning);
  EXPECT_EQ(got->spec_json, "{\"name\":\"web\"}");
  ASSERT_EQ(got->models.size(), 2u);
  EXPECT_EQ(got->models[0], (std::pair<std::string, int64_t>("digits", 1)));
  EXPECT_EQ(got->models[1], (std::pair<std::string, int64_t>("resnet", 3)));

  auto all = ListDeployments(ws->get());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "api");  // by name
  EXPECT_EQ((*all)[0].models.size(), 1u);
  EXPECT_EQ((*all)[1].name, "web");
}

TEST(Deployments, ANameTakenIsRefusedNamingItsState) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  DeploymentRecord a = Deployment("web");
  ASSERT_TRUE(CreateDeployment(ws->get(), &a).ok());
  ASSERT_TRUE(UpdateDeployment(ws->get(), "web", {.state = std::string(kDeployHealthy)}).ok());
  DeploymentRecord again = Deployment("web");
  Status s = CreateDeployment(ws->get(), &again);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "deployment web exists (Healthy); delete it first");
}

TEST(Deployments, UpdateSetsOnlyTheGivenFields) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  DeploymentRecord a = Deployment("web");
  ASSERT_TRUE(CreateDeployment(ws->get(), &a).ok());
  DeploymentUpdate u;
  u.port = 8123;
  u.supervisor_pid = 42;
  u.supervisor_start = 777;
  ASSERT_TRUE(UpdateDeployment(ws->get(), "web", u).ok());
  DeploymentUpdate v;
  v.state = kDeployUnhealthy;
  v.restarts = 2;
  v.server_pid = 43;
  v.error = "server exited with code 137";
  ASSERT_TRUE(UpdateDeployment(ws->get(), "web", v).ok());
  auto got = GetDeployment(ws->get(), "web");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->port, 8123);
  EXPECT_EQ(got->supervisor_pid, 42);
  EXPECT_EQ(got->supervisor_start, 777);
  EXPECT_EQ(got->server_pid, 43);
  EXPECT_EQ(got->restarts, 2);
  EXPECT_EQ(got->state, kDeployUnhealthy);
  EXPECT_EQ(got->error, "server exited with code 137");
  EXPECT_GE(got->updated_at, got->created_at);
  EXPECT_EQ(UpdateDeployment(ws->get(), "nope", v).code(), StatusCode::kNotFound);
}

TEST(Deployments, DeletingIsNotUndoneByALateStateWrite) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  DeploymentRecord a = Deployment("web");
  ASSERT_TRUE(CreateDeployment(ws->get(), &a).ok());
  ASSERT_TRUE(UpdateDeployment(ws->get(), "web", {.state = std::string(kDeployDeleting)}).ok());
  DeploymentUpdate late;
  late.state = kDeployHealthy;
  late.server_pid = 0;
  ASSERT_TRUE(UpdateDeployment(ws->get(), "web", late).ok());
  auto got = GetDeployment(ws->get(), "web");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, kDeployDeleting);
}

TEST(Deployments, RemoveFreesTheModelsAndUnknownNamesAreNamed) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  DeploymentRecord a = Deployment("web");
  ASSERT_TRUE(CreateDeployment(ws->get(), &a).ok());
  DeploymentRecord b = Deployment("api");
  ASSERT_TRUE(CreateDeployment(ws->get(), &b).ok());
  ASSERT_TRUE(RemoveDeployment(ws->get(), "web").ok());
  EXPECT_EQ(RemoveDeployment(ws->get(), "web").code(), StatusCode::kNotFound);
  auto missing = GetDeployment(ws->get(), "web");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "no deployment named \"web\" (deployments: api)");
  auto rows =
      (*ws)->db()->Prepare("SELECT COUNT(*) FROM deployment_models WHERE deployment = 'web'");
  ASSERT_TRUE(rows.ok());
  auto step = rows->Step();
  ASSERT_TRUE(step.ok() && *step);
  EXPECT_EQ(rows->Int(0), 0);
  // Recreating the name works once it is gone.
  DeploymentRecord again = Deployment("web");
  EXPECT_TRUE(CreateDeployment(ws->get(), &again).ok());
}

}  // namespace
}  // namespace trainyard::store

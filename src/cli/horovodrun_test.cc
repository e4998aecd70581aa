// horovodrun's translation of its command line into trainyard's (no processes, no files).
#include "cli/horovodrun.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace trainyard::horovodrun {
namespace {

using Words = std::vector<std::string>;

Surroundings Here(std::map<std::string, std::string> files = {}) {
  Surroundings s;
  s.cwd = "/home/u/proj";
  s.hostname = "box";
  s.read_file = [files](const std::string& path) -> std::optional<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  };
  return s;
}

Invocation Ok(const Words& args, const Surroundings& where = Here()) {
  Translation t = Translate(args, where);
  EXPECT_TRUE(t.invocation.has_value()) << t.error;
  return t.invocation.value_or(Invocation{});
}

std::string Error(const Words& args, const Surroundings& where = Here()) {
  Translation t = Translate(args, where);
  EXPECT_FALSE(t.invocation.has_value());
  return t.error;
}

TEST(HorovodrunTest, LocalPythonScriptWithArguments) {
  Invocation inv = Ok({"-np", "2", "python", "train.py", "--x", "1"});
  EXPECT_EQ(inv.submit, (Words{"submit", "--source", "/home/u/proj", "--entry", "train.py", "--set",
                               "node_count=1", "--set", "process_count_per_node=2", "--set",
                               "distributed_backend=mpi", "--stream", "--", "--x", "1"}));
  EXPECT_TRUE(inv.target.empty());
  EXPECT_TRUE(inv.target_add.empty());
  EXPECT_FALSE(inv.dry_run);
}

TEST(HorovodrunTest, GlooAndMpiChooseTheBackendAndTheTransport) {
  Invocation gloo = Ok({"--num-proc=3", "--gloo", "python3", "sub/t.py"});
  EXPECT_EQ(
      gloo.submit,
      (Words{"submit", "--source", "/home/u/proj", "--entry", "sub/t.py", "--set", "node_count=1",
             "--set", "process_count_per_node=3", "--set", "distributed_backend=pytorch", "--env",
             "HOROVOD_CONTROLLER=gloo", "--env", "HOROVOD_CPU_OPERATIONS=gloo", "--stream", "--"}));
  Invocation mpi = Ok({"-np", "2", "--mpi", "python", "t.py"});
  EXPECT_EQ(Words(mpi.submit.begin() + 9, mpi.submit.end()),
            (Words{"--set", "distributed_backend=mpi", "--env", "HOROVOD_CONTROLLER=mpi", "--env",
                   "HOROVOD_CPU_OPERATIONS=mpi", "--stream", "--"}));
  EXPECT_EQ(Error({"-np", "2", "--mpi", "--gloo", "python", "t.py"}),
            "--gloo and --mpi: choose one");
}

TEST(HorovodrunTest, InterpreterPathSourceFolderAndDryRun) {
  Invocation inv = Ok(
      {"-np", "1", "--dry-run", "/opt/venv/bin/python3.11", "-u", "/data/other/train.py", "a b"});
  EXPECT_TRUE(inv.dry_run);
  EXPECT_EQ(inv.submit, (Words{"submit", "--source", "/data/other", "--entry", "train.py", "--set",
                               "node_count=1", "--set", "process_count_per_node=1", "--set",
                               "distributed_backend=mpi", "--set",
                               "python=/opt/venv/bin/python3.11", "--dry-run", "--", "a b"}));
  // A script above the current folder: its own folder is the source.
  EXPECT_EQ(Ok({"-np", "1", "python", "../x/t.py"}).submit[2], "/home/u/x");
  // A program that is not Python is the entry itself; the words after it are its own.
  Invocation prog = Ok({"-np", "2", "./bin/train", "-np", "5"});
  EXPECT_EQ(prog.submit[4], "bin/train");
  EXPECT_EQ(Words(prog.submit.end() - 3, prog.submit.end()), (Words{"--", "-np", "5"}));
}

TEST(HorovodrunTest, HostsBecomeAnMpiTargetNamedFromThem) {
  Invocation inv = Ok({"-np", "4", "-H", "node1:2,node2:2", "python", "train.py"});
  ASSERT_EQ(inv.target.rfind("horovodrun-", 0), 0u) << inv.target;
  EXPECT_EQ(inv.target.size(), 11u + 16u);
  EXPECT_EQ(inv.target_add,
            (Words{"target", "add", inv.target, "--type", "mpi", "--hosts", "node1:2,node2:2"}));
  EXPECT_EQ(inv.submit[6], "node_count=2");
  EXPECT_EQ(inv.submit[8], "process_count_per_node=2");
  EXPECT_EQ(Words(inv.submit.begin() + 11, inv.submit.begin() + 13),
            (Words{"--target", inv.target}));
  // The same hosts give the same target; other hosts (or ssh options) another.
  EXPECT_EQ(Ok({"-np", "2", "--hosts=node1:2,node2:2", "python", "t.py"}).target, inv.target);
  EXPECT_NE(Ok({"-np", "2", "-H", "node1:2,node3:2", "python", "t.py"}).target, inv.target);
  Invocation ssh =
      Ok({"-np", "2", "-H", "node1:2,node2:2", "-p", "2222", "-i", "/k/id", "python", "t.py"});
  EXPECT_NE(ssh.target, inv.target);
  EXPECT_EQ(Words(ssh.target_add.end() - 2, ssh.target_add.end()),
            (Words{"--launch-agent", "ssh -p 2222 -i /k/id"}));
  // Horovod fills the first host first: -np 2 over two 2-slot hosts is one host.
  Invocation one = Ok({"-np", "2", "-H", "node1:2,node2:2", "python", "t.py"});
  EXPECT_EQ(one.submit[6], "node_count=1");
  EXPECT_EQ(one.submit[8], "process_count_per_node=2");
  EXPECT_TRUE(one.notes.empty());
}

TEST(HorovodrunTest, UnevenFillUsesAnEvenSplitOrFails) {
  Invocation inv = Ok({"-np", "4", "-H", "a:3,b:3", "python", "t.py"});
  EXPECT_EQ(inv.submit[6], "node_count=2");
  EXPECT_EQ(inv.submit[8], "process_count_per_node=2");
  ASSERT_EQ(inv.notes.size(), 1u);
  EXPECT_EQ(Error({"-np", "3", "-H", "a:2,b:2", "python", "t.py"}),
            "-np 3 over a:2,b:2: trainyard runs the same number of processes on each host it "
            "uses, and no first hosts take 3 evenly");
  EXPECT_EQ(Error({"-np", "5", "-H", "a:2,b:2", "python", "t.py"}),
            "-np 5 is more than the 4 slots of the hosts (a:2,b:2)");
}

TEST(HorovodrunTest, ThisMachineAloneIsTheLocalTarget) {
  for (const char* h : {"localhost:4", "127.0.0.1:4", "box:4"}) {
    Invocation inv = Ok({"-np", "4", "-H", h, "python", "t.py"});
    EXPECT_TRUE(inv.target.empty()) << h;
    EXPECT_EQ(inv.submit[8], "process_count_per_node=4");
  }
  EXPECT_EQ(Error({"-np", "4", "-H", "localhost:2", "python", "t.py"}),
            "-np 4 is more than the 2 slots of the hosts (localhost:2)");
}

TEST(HorovodrunTest, Hostfile) {
  Surroundings where = Here({{"/h", "# cluster\nnode1 slots=2\n\nnode2   slots=2  # two\n"}});
  Invocation inv = Ok({"-np", "4", "--hostfile", "/h", "python", "t.py"}, where);
  EXPECT_EQ(inv.target_add[6], "node1:2,node2:2");
  EXPECT_EQ(inv.target, Ok({"-np", "4", "-H", "node1:2,node2:2", "python", "t.py"}).target);
  EXPECT_EQ(Error({"-np", "1", "-hostfile", "/nope", "python", "t.py"}, where),
            "--hostfile /nope: cannot read it");
  Surroundings bad = Here({{"/h", "node1 cpus=2\n"}});
  EXPECT_EQ(Error({"-np", "1", "--hostfile", "/h", "python", "t.py"}, bad),
            "--hostfile /h: \"node1 cpus=2\": expected \"host slots=N\"");
}

TEST(HorovodrunTest, TunablesBecomeHorovodVariables) {
  Invocation inv = Ok({"-np", "1", "--fusion-threshold-mb", "32", "--cycle-time-ms=2.5",
                       "--cache-capacity", "0", "--timeline-filename", "/tmp/tl.json",
                       "--no-stall-check", "--disable-cache", "python", "t.py"});
  Words env;
  for (size_t i = 0; i + 1 < inv.submit.size(); ++i) {
    if (inv.submit[i] == "--env") env.push_back(inv.submit[i + 1]);
  }
  EXPECT_EQ(env, (Words{"HOROVOD_FUSION_THRESHOLD=33554432", "HOROVOD_CYCLE_TIME=2.5",
                        "HOROVOD_CACHE_CAPACITY=0", "HOROVOD_TIMELINE=/tmp/tl.json",
                        "HOROVOD_STALL_CHECK_DISABLE=1"}));
}

TEST(HorovodrunTest, BadOptionsAreRefusedByName) {
  EXPECT_EQ(Error({"-np", "2", "--start-timeout", "30", "--network-interface", "eth0",
                   "--frobnicate", "python", "t.py"}),
            "horovodrun option --start-timeout is not supported here (start-up is waited for by "
            "the run itself); horovodrun option --network-interface is not supported here "
            "(mpirun and Gloo choose the interface); unknown option --frobnicate");
  EXPECT_EQ(Error({"python", "t.py"}), "-np N (the number of processes) is required");
  EXPECT_EQ(Error({"-np", "0", "python", "t.py"}), "-np \"0\": expected a positive integer");
  EXPECT_EQ(Error({"-np", "2"}), "no command to run (e.g. horovodrun -np 2 python train.py)");
  EXPECT_EQ(Error({"-np", "2", "python"}), "\"python\" without a script to run");
  EXPECT_EQ(Error({"-np", "2", "python", "-m", "pkg"}),
            "interpreter option -m is not supported (give the script's path)");
  EXPECT_EQ(Error({"-np", "2", "python3.11", "t.py"}),
            "\"python3.11\": give that interpreter's path (a bare python or python3 is "
            "trainyard's interpreter)");
  EXPECT_EQ(Error({"-np", "2", "-p", "22", "python", "t.py"}),
            "-p/-i are for hosts reached with ssh: give -H or --hostfile too");
  EXPECT_EQ(Error({"-np", "2", "-H", "a:x", "python", "t.py"}),
            "-H: \"a:x\": slots must be a positive integer (host:N)");
  EXPECT_EQ(Error({"-np", "2", "--verbose=1", "python", "t.py"}),
            "--verbose takes no value (got \"--verbose=1\")");
  EXPECT_EQ(Error({"-np"}), "-np needs a value");
  EXPECT_EQ(Error({"-np", "2", "--tcp", "--blacklist-cooldown-range", "1", "2", "python", "t.py"}),
            "horovodrun option --tcp is not supported here (not supported); horovodrun option "
            "--blacklist-cooldown-range is not supported here (elastic runs are not supported by "
            "horovodrun here)");
  // An option's values are skipped: "30" is not taken for the command.
  EXPECT_EQ(Error({"-np", "2", "--start-timeout", "30", "python", "t.py"}),
            "horovodrun option --start-timeout is not supported here (start-up is waited for by "
            "the run itself)");
}

TEST(HorovodrunTest, ElasticBoundsOnAFixedHostListRunNProcesses) {
  // --min-np/--max-np compatible with -np: the same plan as without them.
  Invocation plain = Ok({"-np", "4", "-H", "a:2,b:2", "python", "t.py"});
  Invocation bounded =
      Ok({"-np", "4", "--min-np", "2", "--max-np=4", "-H", "a:2,b:2", "python", "t.py"});
  EXPECT_EQ(bounded.submit, plain.submit);
  EXPECT_EQ(bounded.target_add, plain.target_add);
  EXPECT_TRUE(bounded.notes.empty());  // said with --verbose only
  // Horovod's other spellings; without -np, --min-np processes run.
  Invocation min_only = Ok({"--min-num-proc", "3", "--max-num-proc", "8", "python", "t.py"});
  EXPECT_EQ(min_only.submit, Ok({"-np", "3", "python", "t.py"}).submit);
  // --verbose says that no elastic scaling is done; --slots-per-host and --elastic-timeout are
  // checked and said to be unused; --reset-limit is hvd.elastic.run's HOROVOD_RESET_LIMIT.
  Invocation verbose =
      Ok({"-np", "2", "--min-np", "2", "--max-np", "2", "--slots-per-host", "2",
          "--elastic-timeout", "60", "--reset-limit=3", "--verbose", "python", "t.py"});
  ASSERT_EQ(verbose.notes.size(), 3u);
  EXPECT_NE(verbose.notes[0].find("2 processes run on a fixed set of hosts; trainyard does no "
                                  "elastic scaling"),
            std::string::npos)
      << verbose.notes[0];
  EXPECT_NE(verbose.notes[0].find("docs/horovod.md"), std::string::npos);
  EXPECT_NE(verbose.notes[1].find("--slots-per-host 2 is not used"), std::string::npos);
  EXPECT_NE(verbose.notes[2].find("--elastic-timeout 60 is not used"), std::string::npos);
  EXPECT_EQ(Words(verbose.submit.end() - 4, verbose.submit.end()),
            (Words{"--env", "HOROVOD_RESET_LIMIT=3", "--stream", "--"}));
  EXPECT_TRUE(Ok({"-np", "2", "--verbose", "python", "t.py"}).notes.empty());
}

TEST(HorovodrunTest, ElasticOptionsThatCannotHoldAreRefused) {
  EXPECT_EQ(Error({"-np", "4", "--max-np", "2", "python", "t.py"}),
            "-np 4 is more than --max-np 2");
  EXPECT_EQ(Error({"-np", "1", "--min-np", "2", "python", "t.py"}),
            "-np 1 is less than --min-np 2");
  EXPECT_EQ(Error({"--min-np", "3", "--max-np", "2", "python", "t.py"}),
            "--min-np 3 is more than --max-np 2");
  EXPECT_EQ(Error({"--max-np", "2", "python", "t.py"}),
            "-np N (the number of processes) is required");
  EXPECT_EQ(Error({"-np", "2", "--min-np", "0", "--reset-limit", "-1", "python", "t.py"}),
            "--min-np \"0\": expected an integer >= 1; --reset-limit \"-1\": expected an integer "
            ">= 0");
  std::string discovery =
      Error({"-np", "2", "--host-discovery-script", "./discover.sh", "python", "t.py"});
  EXPECT_EQ(discovery,
            "horovodrun option --host-discovery-script is not supported here (elastic scaling, "
            "hosts found, added and removed while the job runs, is not supported by trainyard: "
            "give a fixed host list with -H or --hostfile; hvd.elastic.run then rolls back to "
            "the last commit after a collective error on the same ranks, see docs/horovod.md, "
            "Elastic)");
  // The script's path is the option's value, not the command.
  EXPECT_EQ(Error({"--host-discovery-script", "./discover.sh", "--min-np", "2", "python", "t.py"}),
            discovery);
}

TEST(HorovodrunTest, HelpAndVersion) {
  EXPECT_TRUE(Ok({"--help"}).help);
  EXPECT_TRUE(Ok({"-np", "2", "-h"}).help);
  EXPECT_TRUE(Ok({"--version"}).version);
  EXPECT_NE(HelpText().find("--disable-cache"), std::string::npos);
}

TEST(HorovodrunTest, ShellQuote) {
  EXPECT_EQ(ShellQuote("train.py"), "train.py");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
}

}  // namespace
}  // namespace trainyard::horovodrun

#include "builder/process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>

#include "core/env.h"
#include "core/error.h"

namespace khub::builder {
namespace {

// fork + exec with stdout redirected to `out_fd` (or to stderr when -1); `quiet` sends the child's
// stderr to /dev/null (probes such as `git log` outside a repository).
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& cwd, int out_fd,
            bool quiet = false) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    dup2(out_fd >= 0 ? out_fd : 2, 1);
    if (quiet) {
      int null_fd = open("/dev/null", O_WRONLY);
      if (null_fd >= 0) dup2(null_fd, 2);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int wait_status(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return -1;
}

}  // namespace

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) {
    bool plain = !a.empty() && a.find_first_of(" \t\"'\\$`") == std::string::npos;
    s += (s.empty() ? "" : " ") + (plain ? a : "'" + a + "'");
  }
  return s;
}

void run_commands(const std::vector<Command>& commands, int jobs, const CommandDoneFn& on_done) {
  if (jobs < 1) jobs = 1;
  size_t finished = 0;
  std::map<pid_t, size_t> running;
  size_t next = 0;
  std::string first_error;
  while (next < commands.size() || !running.empty()) {
    while (first_error.empty() && next < commands.size() &&
           static_cast<int>(running.size()) < jobs) {
      const Command& c = commands[next];
      pid_t pid = spawn(c.argv, c.cwd, -1);
      if (pid < 0) {
        first_error = c.label + ": cannot start " + c.argv[0];
        break;
      }
      running[pid] = next++;
    }
    if (running.empty()) break;
    int raw = 0;
    pid_t pid = waitpid(-1, &raw, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    int st = wait_status(raw);
    if (st != 0 && first_error.empty()) {
      const Command& c = commands[it->second];
      first_error = c.label + " failed (exit " + std::to_string(st) +
                    (st == 127 ? ", program not found" : "") + "): " + command_line(c.argv);
    } else if (st == 0 && on_done) {
      on_done(commands[it->second], ++finished, commands.size());
    }
    running.erase(it);
  }
  if (!first_error.empty()) fail(ErrorKind::kIo, first_error);
}

std::string run_capture(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                        int* status) {
  int fds[2];
  if (pipe(fds) != 0) {
    *status = -1;
    return "";
  }
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  pid_t pid = spawn(argv, cwd, fds[1], true);
  close(fds[1]);
  std::string out;
  if (pid < 0) {
    close(fds[0]);
    *status = -1;
    return out;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int raw = 0;
  while (waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
  }
  *status = wait_status(raw);
  return out;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  // Unset: the shell's default search path; set to "": no folder to search.
  std::string p = env::raw("PATH").value_or("/usr/bin:/bin");
  size_t start = 0;
  while (start <= p.size()) {
    size_t colon = p.find(':', start);
    std::string dir =
        p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty()) {
      std::string cand = dir + "/" + name;
      if (access(cand.c_str(), X_OK) == 0) return cand;
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

}  // namespace khub::builder

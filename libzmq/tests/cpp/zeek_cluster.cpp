// Zeek's ZeroMQ cluster backend, replayed with cppzmq against the drop-in.
//
// Written here after the calls, options and ordering of Zeek's
// src/cluster/backend/zeromq/{ZeroMQ.cc,ZeroMQ-Proxy.cc,ZeroMQ-ZAP.cc}
// (zeek/zeek a13de64): the same cppzmq classes and free functions, the same
// socket types, options, inproc names, frame layouts and shutdown order. Each
// node has its own context, as each Zeek process does, so one process holds a
// whole cluster: a manager that also runs the XPUB/XSUB forwarder, a logger
// and three workers, plus a rogue node whose CURVE key the ZAP handlers
// refuse. Where Zeek reads a configured port, the program binds port 0 and
// reads ZMQ_LAST_ENDPOINT instead (tests may run side by side).
//
// Output: one line per check, "ok NAME" or "FAIL NAME"; checks that depend
// on ZMQ_XPUB_VERBOSER are named "verboser:..." so a harness can tell them
// apart. The first line names the libzmq the process mapped and the zmq.h
// it was compiled with. Exit status 0
// only when every check passed.

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using MultipartMessage = std::vector<zmq::message_t>;

int failures = 0;

void check(bool ok, const std::string &name)
{
    std::printf("%s %s\n", ok ? "ok" : "FAIL", name.c_str());
    std::fflush(stdout);
    if (!ok)
        failures++;
}

// Which libzmq this process mapped (the harness checks it is the drop-in).
std::string mapped_libzmq()
{
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        auto at = line.find('/');
        if (at != std::string::npos && line.find("libzmq", at) != std::string::npos)
            return line.substr(at);
    }
    return "(none)";
}

// ---------------------------------------------------------------- CURVE/ZAP

struct ZapArgs
{
    zmq::socket_t zap_rep;
    std::set<std::string> allowed_publickeys; // raw 32-byte keys
    std::atomic<int> accepted{0};
    std::atomic<int> refused{0};
};

// RFC 27 handler as Zeek's zap_thread_fun: REP, at least 7 frames, CURVE key
// in frame 6, 6-frame reply, ends on ETERM.
void zap_thread_fun(ZapArgs *args)
{
    for (;;) {
        static const std::string version = "1.0";
        std::string request_id;
        std::string status_code = "400";
        std::string status_text = "Invalid ZAP request";
        std::string user_id;
        std::vector<zmq::message_t> request;
        try {
            zmq::recv_result_t r =
              zmq::recv_multipart(args->zap_rep, std::back_inserter(request));
            if (r && *r >= 7) {
                request_id = request[1].to_string();
                if (request[5].to_string() == "CURVE"
                    && args->allowed_publickeys.count(request[6].to_string())) {
                    status_code = "200";
                    status_text = "OK";
                    user_id = "0";
                }
            }
            (status_code == "200" ? args->accepted : args->refused)++;
            std::vector<zmq::message_t> reply;
            reply.emplace_back(version.data(), version.size());
            reply.emplace_back(request_id.data(), request_id.size());
            reply.emplace_back(status_code.data(), status_code.size());
            reply.emplace_back(status_text.data(), status_text.size());
            reply.emplace_back(user_id.data(), user_id.size());
            reply.emplace_back("", 0);
            zmq::send_multipart(args->zap_rep, reply);
        } catch (zmq::error_t &err) {
            if (err.num() == EINTR)
                continue;
            args->zap_rep.close();
            if (err.num() != ETERM)
                std::fprintf(stderr, "zap: unexpected error %s\n", err.what());
            return;
        }
    }
}

struct CurveConfig
{
    std::string server_publickey, server_secretkey; // Z85, 40 characters
    std::string client_publickey, client_secretkey;
    std::string allowed_client_publickey; // the one the ZAP handlers admit

    bool IsClientEnabled() const
    {
        return !server_publickey.empty() && !client_secretkey.empty()
               && !client_publickey.empty();
    }
    bool IsServerEnabled() const
    {
        return !server_secretkey.empty() && !allowed_client_publickey.empty();
    }
    void ConfigureClientCurveSockOpts(zmq::socket_t &sock) const
    {
        sock.set(zmq::sockopt::curve_serverkey, server_publickey);
        sock.set(zmq::sockopt::curve_secretkey, client_secretkey);
        sock.set(zmq::sockopt::curve_publickey, client_publickey);
    }
    void ConfigureServerCurveSockOpts(zmq::socket_t &sock) const
    {
        sock.set(zmq::sockopt::curve_server, true);
        sock.set(zmq::sockopt::curve_secretkey, server_secretkey);
    }
    void InitZap(zmq::context_t &ctx, ZapArgs &args) const
    {
        args.zap_rep = zmq::socket_t(ctx, zmq::socket_type::rep);
        args.zap_rep.bind("inproc://zeromq.zap.01");
        std::string raw(32, '\0');
        zmq_z85_decode(reinterpret_cast<uint8_t *>(&raw[0]),
                       allowed_client_publickey.c_str());
        args.allowed_publickeys.insert(raw);
    }
};

std::pair<std::string, std::string> generate_keypair()
{
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0)
        throw zmq::error_t();
    return {pub, sec};
}

// ---------------------------------------------------------------- forwarder

// Zeek's ProxyThread: its own context, XPUB with VERBOSER and NODROP, both
// sockets CURVE servers, a ZAP handler in the same context, and
// proxy_steerable with the node's control REP until ETERM.
class ProxyThread
{
  public:
    ProxyThread(zmq::socket_t &&control, const CurveConfig &curve)
        : control(std::move(control)), curve_config(curve)
    {
    }

    bool Start()
    {
        ctx.set(zmq::ctxopt::io_threads, 2);
        ctx.set(zmq::ctxopt::ipv6, 0);
        zmq::socket_t xpub(ctx, zmq::socket_type::xpub);
        zmq::socket_t xsub(ctx, zmq::socket_type::xsub);
        xpub.set(zmq::sockopt::xpub_verboser, 1);
        xpub.set(zmq::sockopt::xpub_nodrop, 1);
        if (curve_config.IsServerEnabled()) {
            curve_config.ConfigureServerCurveSockOpts(xpub);
            curve_config.ConfigureServerCurveSockOpts(xsub);
            curve_config.InitZap(ctx, zap_args);
            zap_thread = std::thread(zap_thread_fun, &zap_args);
        }
        xpub.bind("tcp://127.0.0.1:0");
        xsub.bind("tcp://127.0.0.1:0");
        xpub_endpoint = xpub.get(zmq::sockopt::last_endpoint);
        xsub_endpoint = xsub.get(zmq::sockopt::last_endpoint);
        xpub_ = std::move(xpub);
        xsub_ = std::move(xsub);
        thread = std::thread([this] { Run(); });
        return true;
    }

    void Shutdown()
    {
        ctx.shutdown();
        if (thread.joinable())
            thread.join();
        if (zap_thread.joinable())
            zap_thread.join();
        ctx.close();
    }

    std::string xpub_endpoint, xsub_endpoint;
    ZapArgs zap_args;
    std::atomic<bool> ended_on_eterm{false};

  private:
    void Run()
    {
        for (;;) {
            try {
                zmq::proxy_steerable(xsub_, xpub_, zmq::socket_ref{}, control);
            } catch (zmq::error_t &err) {
                if (err.num() == EINTR)
                    continue;
                xsub_.close();
                xpub_.close();
                control.close();
                ended_on_eterm = err.num() == ETERM;
                return;
            }
        }
    }

    zmq::context_t ctx;
    zmq::socket_t xpub_, xsub_, control;
    CurveConfig curve_config;
    std::thread thread, zap_thread;
};

// ---------------------------------------------------------------- a node

enum class InprocTag : uint8_t { XsubUpdate, Terminate };

struct NodeConfig
{
    std::string name;
    std::string connect_xpub_endpoint; // the forwarder's XSUB
    std::string connect_xsub_endpoint; // the forwarder's XPUB
    bool listen_log = false;
    std::vector<std::string> connect_log_endpoints;
    int log_immediate = 0;
    CurveConfig curve;
};

// Zeek's ZeroMQBackend: node sockets, monitors, the PAIR bridge to an I/O
// thread polling 7 sockets with timeout -1. What the I/O thread hands to
// "the event loop" is recorded as text lines the checks wait for.
class Node
{
  public:
    explicit Node(NodeConfig config)
        : cfg(std::move(config)), main_inproc(ctx, zmq::socket_type::pair)
    {
    }
    ~Node() { Terminate(); }

    bool Init()
    {
        ctx.set(zmq::ctxopt::ipv6, 0);
        xsub = zmq::socket_t(ctx, zmq::socket_type::xsub);
        xpub = zmq::socket_t(ctx, zmq::socket_type::xpub);
        log_push = zmq::socket_t(ctx, zmq::socket_type::push);
        log_pull = zmq::socket_t(ctx, zmq::socket_type::pull);

        xpub.set(zmq::sockopt::linger, 500);
        xpub.set(zmq::sockopt::xpub_nodrop, 1);
        xpub.set(zmq::sockopt::xpub_verbose, 1);
        xpub.set(zmq::sockopt::sndhwm, 1000);
        xpub.set(zmq::sockopt::sndbuf, -1);
        xsub.set(zmq::sockopt::rcvhwm, 1000);
        xsub.set(zmq::sockopt::rcvbuf, -1);
        if (cfg.curve.IsClientEnabled()) {
            cfg.curve.ConfigureClientCurveSockOpts(xpub);
            cfg.curve.ConfigureClientCurveSockOpts(xsub);
        }

        std::array<std::pair<zmq::socket_ref, std::string>, 3> to_monitor = {{
          {xpub, "inproc://monitor-xpub"},
          {xsub, "inproc://monitor-xsub"},
          {log_push, "inproc://monitor-log-push"},
        }};
        for (size_t i = 0; i < to_monitor.size(); i++) {
            auto &[sock, addr] = to_monitor[i];
            if (zmq_socket_monitor(sock.handle(), addr.c_str(), ZMQ_EVENT_ALL) != 0) {
                std::fprintf(stderr, "%s: monitor %s: %s\n", cfg.name.c_str(),
                             addr.c_str(), zmq_strerror(zmq_errno()));
                return false;
            }
            monitoring_sockets[i] = zmq::socket_t(ctx, zmq::socket_type::pair);
            monitoring_sockets[i].connect(addr);
        }

        xsub.connect(cfg.connect_xsub_endpoint);
        xpub.connect(cfg.connect_xpub_endpoint);

        log_push.set(zmq::sockopt::sndhwm, 1000);
        log_push.set(zmq::sockopt::sndbuf, -1);
        log_push.set(zmq::sockopt::linger, 500);
        log_push.set(zmq::sockopt::immediate, cfg.log_immediate);
        if (cfg.curve.IsClientEnabled())
            cfg.curve.ConfigureClientCurveSockOpts(log_push);

        log_pull.set(zmq::sockopt::rcvhwm, 1000);
        log_pull.set(zmq::sockopt::rcvbuf, -1);
        if (cfg.curve.IsServerEnabled()) {
            cfg.curve.ConfigureServerCurveSockOpts(log_pull);
            cfg.curve.InitZap(ctx, zap_args);
            zap_thread = std::thread(zap_thread_fun, &zap_args);
        }
        if (cfg.listen_log) {
            log_pull.bind("tcp://127.0.0.1:0");
            listen_log_endpoint = log_pull.get(zmq::sockopt::last_endpoint);
        }
        for (const auto &endp : cfg.connect_log_endpoints)
            log_push.connect(endp);

        main_inproc.bind("inproc://inproc-bridge");
        child_inproc = zmq::socket_t(ctx, zmq::socket_type::pair);
        child_inproc.connect("inproc://inproc-bridge");
        self_thread = std::thread([this] { Run(); });
        return true;
    }

    // The forwarder's control socket lives in the manager's context.
    zmq::socket_t ControlPair(zmq::socket_t &req)
    {
        zmq::socket_t rep(ctx, zmq::socket_type::rep);
        rep.bind("inproc://proxy-control");
        req = zmq::socket_t(ctx, zmq::socket_type::req);
        req.connect("inproc://proxy-control");
        return rep;
    }

    void Subscribe(const std::string &topic) { XsubUpdate(std::string("\x01") + topic); }
    void Unsubscribe(const std::string &topic) { XsubUpdate(std::string(1, '\0') + topic); }

    void Publish(const std::string &topic, const std::string &payload)
    {
        static const std::string format = "broker-bin-v1";
        std::array<zmq::const_buffer, 4> parts = {
          zmq::const_buffer(topic.data(), topic.size()),
          zmq::const_buffer(cfg.name.data(), cfg.name.size()),
          zmq::const_buffer(format.data(), format.size()),
          zmq::const_buffer(payload.data(), payload.size()),
        };
        for (size_t i = 0; i < parts.size(); i++) {
            auto flags = i < parts.size() - 1 ? zmq::send_flags::sndmore
                                              : zmq::send_flags::none;
            main_inproc.send(parts[i], flags);
        }
    }

    // The main thread's log write: DONTWAIT, EAGAIN means "HWM reached?".
    bool PublishLog(const std::string &payload)
    {
        static const std::string message_type = "log-write";
        static const std::string format = "zeek-bin-v1";
        std::array<zmq::const_buffer, 4> parts = {
          zmq::const_buffer(message_type.data(), message_type.size()),
          zmq::const_buffer(cfg.name.data(), cfg.name.size()),
          zmq::const_buffer(format.data(), format.size()),
          zmq::const_buffer(payload.data(), payload.size()),
        };
        for (size_t i = 0; i < parts.size(); i++) {
            auto flags = zmq::send_flags::dontwait;
            if (i < parts.size() - 1)
                flags = flags | zmq::send_flags::sndmore;
            if (!log_push.send(parts[i], flags))
                return false;
        }
        return true;
    }

    // Zeek's DoTerminate order.
    void Terminate()
    {
        if (terminated)
            return;
        terminated = true;
        if (self_thread.joinable()) {
            auto tag = InprocTag::Terminate;
            main_inproc.send(zmq::const_buffer(&tag, 1), zmq::send_flags::sndmore);
            main_inproc.send(zmq::const_buffer("", 0));
            self_thread.join();
        }
        ctx.shutdown();
        log_push.close();
        main_inproc.close();
        child_inproc.close();
        if (proxy_thread) {
            proxy_thread->Shutdown();
            proxy_ended_on_eterm = proxy_thread->ended_on_eterm;
        }
        if (zap_thread.joinable())
            zap_thread.join();
        telemetry_req.close();
        ctx.close();
    }

    // Waits until the event loop saw `line` (at least `times` times).
    bool Saw(const std::string &line, std::chrono::seconds limit = 30s, size_t times = 1)
    {
        std::unique_lock<std::mutex> lock(mutex);
        return seen_cv.wait_for(lock, limit, [&] { return CountLocked(line) >= times; });
    }
    size_t Count(const std::string &line)
    {
        std::lock_guard<std::mutex> lock(mutex);
        return CountLocked(line);
    }

    NodeConfig cfg;
    zmq::context_t ctx;
    std::string listen_log_endpoint;
    std::unique_ptr<ProxyThread> proxy_thread;
    zmq::socket_t telemetry_req;
    bool proxy_ended_on_eterm = false;
    ZapArgs zap_args;

  private:
    void XsubUpdate(const std::string &msg)
    {
        auto tag = InprocTag::XsubUpdate;
        main_inproc.send(zmq::const_buffer(&tag, 1), zmq::send_flags::sndmore);
        main_inproc.send(zmq::const_buffer(msg.data(), msg.size()));
    }

    size_t CountLocked(const std::string &line) const
    {
        size_t n = 0;
        for (const auto &s : seen)
            n += s == line;
        return n;
    }

    void Record(std::string line)
    {
        {
            std::lock_guard<std::mutex> lock(mutex);
            seen.push_back(std::move(line));
        }
        seen_cv.notify_all();
    }

    void HandleInproc(std::vector<MultipartMessage> &msgs)
    {
        for (auto &msg : msgs) {
            if (msg.size() == 2) {
                auto tag = msg[0].data<InprocTag>()[0];
                if (tag == InprocTag::XsubUpdate)
                    xsub.send(msg[1], zmq::send_flags::none);
                else
                    self_thread_stop = true;
            } else if (msg.size() == 4) {
                for (auto &part : msg) {
                    auto flags = zmq::send_flags::dontwait;
                    if (part.more())
                        flags = flags | zmq::send_flags::sndmore;
                    if (!xpub.send(part, flags)) {
                        Record("xpub-drop");
                        break;
                    }
                }
            }
        }
    }

    void HandleXPub(const std::vector<MultipartMessage> &msgs)
    {
        for (const auto &msg : msgs) {
            if (msg.size() != 1 || msg[0].size() == 0)
                continue;
            auto first = *msg[0].data<uint8_t>();
            std::string topic(msg[0].data<char>() + 1, msg[0].size() - 1);
            if (first == 1)
                Record("sub " + topic);
            else if (first == 0)
                Record("unsub " + topic);
        }
    }

    void HandleXSub(const std::vector<MultipartMessage> &msgs)
    {
        for (const auto &msg : msgs) {
            if (msg.size() != 4)
                continue;
            if (msg[1].to_string() == cfg.name)
                continue; // our own publication
            Record("event " + msg[0].to_string() + " from " + msg[1].to_string() + ": "
                   + msg[3].to_string());
        }
    }

    void HandleLog(const std::vector<MultipartMessage> &msgs)
    {
        for (const auto &msg : msgs)
            if (msg.size() == 4)
                Record("log from " + msg[1].to_string() + ": " + msg[3].to_string());
    }

    void HandleMonitoring(const std::vector<MultipartMessage> &msgs)
    {
        for (const auto &msg : msgs) {
            if (msg.size() != 2 || msg[0].size() < 6)
                continue;
            std::string payload = msg[0].to_string() + msg[1].to_string();
            uint16_t event;
            uint32_t value;
            std::memcpy(&event, payload.data(), 2);
            std::memcpy(&value, payload.data() + 2, 4);
            char head[64];
            std::snprintf(head, sizeof head, "monitor 0x%x ", event);
            Record(head + payload.substr(6));
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
                std::snprintf(head, sizeof head, "auth-failed %u", value);
                Record(head);
            }
        }
    }

    void Run()
    {
        struct SocketInfo
        {
            zmq::socket_ref socket;
            std::function<void(std::vector<MultipartMessage> &)> handler;
        };
        std::vector<SocketInfo> sockets = {
          {child_inproc, [this](auto &m) { HandleInproc(m); }},
          {xpub, [this](auto &m) { HandleXPub(m); }},
          {xsub, [this](auto &m) { HandleXSub(m); }},
          {log_pull, [this](auto &m) { HandleLog(m); }},
          {monitoring_sockets[0], [this](auto &m) { HandleMonitoring(m); }},
          {monitoring_sockets[1], [this](auto &m) { HandleMonitoring(m); }},
          {monitoring_sockets[2], [this](auto &m) { HandleMonitoring(m); }},
        };
        std::vector<zmq::pollitem_t> poll_items(sockets.size());
        const size_t poll_max_messages = 100;

        while (!self_thread_stop) {
            for (size_t i = 0; i < sockets.size(); i++)
                poll_items[i] = {sockets[i].socket.handle(), 0, ZMQ_POLLIN | ZMQ_POLLERR, 0};
            std::vector<std::vector<MultipartMessage>> rcv(sockets.size());
            try {
                try {
                    // As Zeek: seconds(-1), i.e. -1000 ms; any negative is "forever".
                    zmq::poll(poll_items, std::chrono::seconds(-1));
                } catch (const zmq::error_t &err) {
                    if (err.num() == EINTR)
                        continue;
                    throw;
                }
                for (size_t i = 0; i < poll_items.size(); i++) {
                    if ((poll_items[i].revents & ZMQ_POLLIN) == 0)
                        continue;
                    bool consumed_one = false;
                    do {
                        zmq::message_t msg;
                        rcv[i].emplace_back();
                        auto &into = rcv[i].back();
                        if (rcv[i].size() > poll_max_messages)
                            break;
                        consumed_one = false;
                        bool more = false;
                        do {
                            auto r = sockets[i].socket.recv(msg, zmq::recv_flags::dontwait);
                            if (r) {
                                consumed_one = true;
                                more = msg.more();
                                into.emplace_back(std::move(msg));
                            } else if (more) {
                                continue;
                            }
                        } while (more);
                    } while (consumed_one);
                    rcv[i].pop_back();
                }
            } catch (zmq::error_t &err) {
                if (err.num() != ETERM)
                    throw;
                break;
            }
            for (size_t i = 0; i < sockets.size(); i++)
                if (!rcv[i].empty())
                    sockets[i].handler(rcv[i]);
        }
        xpub.close();
        xsub.close();
        log_pull.close();
        for (auto &s : monitoring_sockets)
            s.close();
    }

    zmq::socket_t xsub, xpub, log_push, log_pull, main_inproc, child_inproc;
    std::array<zmq::socket_t, 3> monitoring_sockets;
    std::thread self_thread, zap_thread;
    std::atomic<bool> self_thread_stop{false};
    bool terminated = false;
    std::mutex mutex;
    std::condition_variable seen_cv;
    std::vector<std::string> seen;
};

// The manager's telemetry: STATISTICS over the inproc REQ, 8 uint64 frames.
std::vector<uint64_t> proxy_statistics(zmq::socket_t &req)
{
    static const std::string cmd = "STATISTICS";
    std::vector<uint64_t> stats;
    req.send(zmq::const_buffer(cmd.data(), cmd.size()));
    bool more = true;
    while (more) {
        zmq::message_t msg;
        (void) req.recv(msg, zmq::recv_flags::none);
        uint64_t v = 0;
        if (msg.size() == sizeof v)
            std::memcpy(&v, msg.data(), sizeof v);
        stats.push_back(msg.size() == sizeof v ? v : UINT64_MAX);
        more = msg.more();
    }
    return stats;
}

// Waits up to 30 s for `cond` (the handlers count asynchronously).
bool eventually(const std::function<bool()> &cond)
{
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

std::string node_topic(const std::string &name) { return "zeek/cluster/node/" + name + "/"; }
const std::string worker_topic = "zeek/cluster/worker/";

} // namespace

int main()
{
    std::printf("libzmq %s header %d.%d.%d\n", mapped_libzmq().c_str(), ZMQ_VERSION_MAJOR,
                ZMQ_VERSION_MINOR, ZMQ_VERSION_PATCH);
    int major, minor, patch;
    zmq::version(&major, &minor, &patch);
    check(major == 4 && minor == 3, "zmq.h and the library say 4.3");

    // Keys as Zeek's generate_keypair() makes them.
    auto [server_pub, server_sec] = generate_keypair();
    auto [client_pub, client_sec] = generate_keypair();
    auto [rogue_pub, rogue_sec] = generate_keypair();
    check(server_pub.size() == 40 && client_sec.size() == 40, "curve keys are 40 Z85 characters");
    CurveConfig curve{server_pub, server_sec, client_pub, client_sec, client_pub};

    // The manager: node context, the control REP/REQ pair, the forwarder.
    NodeConfig manager_cfg{"manager", "", "", false, {}, 0, curve};
    auto manager = std::make_unique<Node>(manager_cfg);
    zmq::socket_t control = manager->ControlPair(manager->telemetry_req);
    manager->proxy_thread = std::make_unique<ProxyThread>(std::move(control), curve);
    check(manager->proxy_thread->Start(), "forwarder started");
    const std::string fwd_xpub = manager->proxy_thread->xpub_endpoint;
    const std::string fwd_xsub = manager->proxy_thread->xsub_endpoint;
    // Nodes connect their XPUB to the forwarder's XSUB and the reverse.
    auto config = [&](const std::string &name) {
        return NodeConfig{name, fwd_xsub, fwd_xpub, false, {}, 0, curve};
    };
    manager->cfg.connect_xpub_endpoint = fwd_xsub;
    manager->cfg.connect_xsub_endpoint = fwd_xpub;
    check(manager->Init(), "manager initialised (second ZAP handler in the process)");

    auto logger_cfg = config("logger");
    logger_cfg.listen_log = true;
    auto logger = std::make_unique<Node>(logger_cfg);
    check(logger->Init(), "logger initialised");

    std::vector<std::unique_ptr<Node>> workers;
    for (int i = 1; i <= 3; i++) {
        auto cfg = config("worker-" + std::to_string(i));
        cfg.connect_log_endpoints = {logger->listen_log_endpoint};
        if (i == 3) {
            // Immediate: a second log endpoint where nothing listens gets
            // no pipe, so every write goes to the logger.
            cfg.log_immediate = 1;
            cfg.connect_log_endpoints.push_back("tcp://127.0.0.1:1");
        }
        workers.push_back(std::make_unique<Node>(cfg));
        check(workers.back()->Init(), cfg.name + " initialised");
    }
    Node &w1 = *workers[0], &w2 = *workers[1], &w3 = *workers[2];

    // Subscriptions as 0x01 frames on the XSUB, seen on XPUBs.
    std::vector<Node *> all = {manager.get(), logger.get(), &w1, &w2, &w3};
    for (Node *n : all)
        n->Subscribe(node_topic(n->cfg.name));
    for (Node *n : all)
        for (Node *other : all)
            check(n->Saw("sub " + node_topic(other->cfg.name)),
                  n->cfg.name + " sees the subscription of " + other->cfg.name);
    // Now every node is attached. Each worker subscribes to the shared topic
    // in turn, and every worker sees each one, also the repeats (XPUB_VERBOSE
    // on the node and at least VERBOSE on the forwarder): Zeek's subscribe
    // callback waits for its own subscription to come back.
    for (size_t i = 0; i < workers.size(); i++) {
        workers[i]->Subscribe(worker_topic);
        for (auto &w : workers)
            check(w->Saw("sub " + worker_topic, 30s, i + 1),
                  w->cfg.name + " sees the shared subscription of worker-" + std::to_string(i + 1));
    }

    // Events: 4-part messages through the PAIR bridge and XPUB.
    manager->Publish(node_topic("worker-1"), "ping");
    check(w1.Saw("event " + node_topic("worker-1") + " from manager: ping"),
          "worker-1 receives the manager's event on its node topic");
    w2.Publish(worker_topic, "hello workers");
    check(w1.Saw("event " + worker_topic + " from worker-2: hello workers")
            && w3.Saw("event " + worker_topic + " from worker-2: hello workers"),
          "worker-1 and worker-3 receive worker-2's event");
    check(manager->Count("event " + worker_topic + " from worker-2: hello workers") == 0,
          "the manager does not receive the workers' topic");

    // Logs: PUSH with DONTWAIT from the main thread to the logger's PULL.
    bool sent = true;
    for (int i = 0; i < 5; i++)
        sent &= w1.PublishLog("conn.log " + std::to_string(i));
    check(sent, "worker-1's log writes are accepted (queued before connecting)");
    check(logger->Saw("log from worker-1: conn.log 4"), "the logger receives worker-1's logs");
    // worker-3 (immediate): EAGAIN until a connection is up, then every
    // write reaches the logger (none waits in a pipe to port 1).
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!w3.PublishLog("probe") && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    check(logger->Saw("log from worker-3: probe"), "worker-3's first accepted write arrives");
    bool all_sent = true;
    for (int i = 0; i < 20; i++)
        all_sent &= w3.PublishLog("dns.log " + std::to_string(i));
    bool all_arrived = all_sent;
    for (int i = 0; i < 20 && all_arrived; i++)
        all_arrived = logger->Saw("log from worker-3: dns.log " + std::to_string(i));
    check(all_arrived, "with immediate, all 20 writes reach the logger");

    // Monitors: v1 events on inproc PAIRs.
    char handshake[32];
    std::snprintf(handshake, sizeof handshake, "monitor 0x%x ", ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    check(w1.Saw(handshake + fwd_xpub) && w1.Saw(handshake + fwd_xsub)
            && w1.Saw(handshake + logger->listen_log_endpoint),
          "worker-1's monitors report CURVE handshakes on xsub, xpub and log-push");
    check(eventually([&] { return manager->proxy_thread->zap_args.accepted >= 10; }),
          "the forwarder's ZAP handler admitted the nodes' CURVE key");
    check(eventually([&] { return logger->zap_args.accepted >= 3; }), "the logger's ZAP handler admitted the workers");

    // A node with a key the ZAP handlers refuse: HANDSHAKE_FAILED_AUTH (400).
    auto rogue_cfg = config("rogue");
    rogue_cfg.curve.client_publickey = rogue_pub;
    rogue_cfg.curve.client_secretkey = rogue_sec;
    rogue_cfg.curve.server_secretkey.clear(); // a client only
    auto rogue = std::make_unique<Node>(rogue_cfg);
    check(rogue->Init(), "rogue initialised");
    check(rogue->Saw("auth-failed 400"), "the rogue node's monitor reports HANDSHAKE_FAILED_AUTH 400");
    check(eventually([&] { return manager->proxy_thread->zap_args.refused >= 1; }), "the forwarder's ZAP handler refused it");
    rogue->Subscribe(node_topic("rogue"));
    std::this_thread::sleep_for(200ms);
    check(manager->Count("sub " + node_topic("rogue")) == 0, "the rogue's subscription goes nowhere");
    rogue->Terminate();

    // STATISTICS: 8 uint64 frames from proxy_steerable.
    auto stats = proxy_statistics(manager->telemetry_req);
    check(stats.size() == 8, "STATISTICS answers 8 frames");
    if (stats.size() == 8)
        check(stats[0] >= 2 && stats[1] > 0 && stats[4] > 0 && stats[6] > 0,
              "frontend received events, backend received subscriptions, both sent");

    // Node down: worker-2 terminates; the others see its node topic go.
    w2.Terminate();
    check(manager->Saw("unsub " + node_topic("worker-2")) && w1.Saw("unsub " + node_topic("worker-2")),
          "worker-2 going down is seen as an unsubscription by the manager and worker-1");
    check(manager->Count("unsub " + worker_topic) == 0,
          "the shared topic stays while other workers hold it");
    // The shared topic: with VERBOSER the forwarder reports each holder's
    // departure, so its XSUB's count falls to zero with the last worker and
    // the unsubscription reaches the manager. Without it, the count stays
    // above zero and the manager never hears.
    w3.Terminate();
    w1.Unsubscribe(worker_topic);
    check(manager->Saw("unsub " + worker_topic),
          "verboser: the shared topic's unsubscription reaches the manager after its last holder left");

    // Shutdown in Zeek's order; the forwarder ends on ETERM.
    w1.Terminate();
    logger->Terminate();
    manager->Terminate();
    check(manager->proxy_ended_on_eterm, "proxy_steerable ended with ETERM at shutdown");

    std::printf("%s: %d failed\n", failures ? "FAILED" : "OK", failures);
    return failures ? 1 : 0;
}

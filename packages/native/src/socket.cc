// Raw BSD sockets, addressed by fd. The TypeScript Socket class owns the fd
// and its lifetime; these functions are thin, EINTR-safe system calls.
// Would-block is a normal result (null), never an exception.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"

namespace iomux::detail {
namespace {

// The tail of every non-blocking I/O call once RetryEintr() came back negative:
// would-block is a normal result (null); anything else is a SystemError.
Napi::Value WouldBlockOrThrow(Napi::Env env, const char* syscall, int fd) {
  if (WouldBlock(errno)) return env.Null();
  ThrowErrno(env, errno, syscall, fd);
}

// getaddrinfo's own error codes, as the libuv codes Node's errors use
// (so util.getSystemErrorName() gives 'ENOTFOUND' and friends).
int GaiToUv(int gai) {
  switch (gai) {
    case EAI_NONAME:
      return UV_EAI_NONAME;
#ifdef EAI_NODATA
    case EAI_NODATA:
      return UV_EAI_NODATA;
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
      return UV_EAI_ADDRFAMILY;
#endif
    case EAI_AGAIN:
      return UV_EAI_AGAIN;
    case EAI_FAMILY:
      return UV_EAI_FAMILY;
    case EAI_MEMORY:
      return UV_EAI_MEMORY;
    case EAI_SERVICE:
      return UV_EAI_SERVICE;
    case EAI_SYSTEM:
      return -errno;
    default:
      return UV_EAI_FAIL;
  }
}

[[noreturn]] void ThrowGai(Napi::Env env, int gai, const std::string& host) {
  ThrowSystemError(env, GaiToUv(gai), "getaddrinfo", -1, host.c_str());
}

// (family, host-or-path, port) -> sockaddr. An empty host means "any".
socklen_t ToSockaddr(const Napi::CallbackInfo& info, size_t at, sockaddr_storage* ss) {
  Napi::Env env = info.Env();
  int family = ArgInt(info, at, "family");
  std::string where = info[at + 1].IsString() ? info[at + 1].As<Napi::String>().Utf8Value() : "";
  std::memset(ss, 0, sizeof *ss);
  if (family == AF_UNIX) {
    auto* un = reinterpret_cast<sockaddr_un*>(ss);
    un->sun_family = AF_UNIX;
    if (where.size() >= sizeof un->sun_path) {
      ThrowRangeError(env, "ERR_INVALID_ARG_VALUE", "unix socket path is too long");
    }
    std::memcpy(un->sun_path, where.data(), where.size());
    // An empty path asks for autobind; a leading NUL names the abstract
    // namespace (no terminator); a filesystem path carries its NUL.
    size_t extra = (!where.empty() && where[0] != '\0') ? 1 : 0;
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + where.size() + extra);
  }
  int port = ArgInt(info, at + 2, "port");
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    if (where.empty()) {
      in->sin_addr.s_addr = htonl(INADDR_ANY);
      return sizeof *in;
    }
    if (inet_pton(AF_INET, where.c_str(), &in->sin_addr) == 1) return sizeof *in;
  } else if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (where.empty()) {
      in6->sin6_addr = in6addr_any;
      return sizeof *in6;
    }
    if (inet_pton(AF_INET6, where.c_str(), &in6->sin6_addr) == 1) return sizeof *in6;
  } else {
    ThrowRangeError(env, "ERR_INVALID_ARG_VALUE", "unknown address family");
  }
  // Not a numeric address: resolve it (blocking, like CPython's socket).
  addrinfo hints{};
  hints.ai_family = family;
  addrinfo* res = nullptr;
  int gai = getaddrinfo(where.c_str(), nullptr, &hints, &res);
  if (gai != 0) ThrowGai(env, gai, where);
  socklen_t len = static_cast<socklen_t>(res->ai_addrlen);
  std::memcpy(ss, res->ai_addr, len);
  freeaddrinfo(res);
  if (family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(ss)->sin_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in6*>(ss)->sin6_port = htons(static_cast<uint16_t>(port));
  }
  return len;
}

Napi::Object FromSockaddr(Napi::Env env, const sockaddr_storage& ss, socklen_t len) {
  Napi::Object o = Napi::Object::New(env);
  char buf[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    o.Set("host", buf);
    o.Set("port", ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    o.Set("host", buf);
    o.Set("port", ntohs(in6->sin6_port));
  } else {
    auto* un = reinterpret_cast<const sockaddr_un*>(&ss);
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    if (n > 0 && un->sun_path[0] != '\0') n = strnlen(un->sun_path, n);  // drop the trailing NUL
    o.Set("path", std::string(un->sun_path, n));
  }
  return o;
}

// The bytes of any ArrayBufferView (Buffer, Uint8Array, ...).
struct Bytes {
  uint8_t* data;
  size_t length;
};

size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 1;
  }
}

Bytes ArgBytes(const Napi::CallbackInfo& info, size_t i) {
  // One N-API call: its status is the type check, and the element type gives
  // the byte length.
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(info.Env(), info[i], &type, &length, &data, nullptr, nullptr) != napi_ok) {
    ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "data must be a Uint8Array");
  }
  return Bytes{static_cast<uint8_t*>(data), length * ElementSize(type)};
}

Napi::Value Socket(const Napi::CallbackInfo& info) {
  int family = ArgInt(info, 0, "family"), type = ArgInt(info, 1, "type");
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(info.Env(), errno, "socket");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int type = info.Length() > 0 ? ArgInt(info, 0, "type") : SOCK_STREAM;
  int fds[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) ThrowErrno(info.Env(), errno, "socketpair");
  return FdPair(info.Env(), fds);
}

void SetIntOption(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd"), level = ArgInt(info, 1, "level"), name = ArgInt(info, 2, "name");
  int value = ArgInt(info, 3, "value");
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) ThrowErrno(info.Env(), errno, "setsockopt", fd);
}

Napi::Value GetIntOption(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd"), level = ArgInt(info, 1, "level"), name = ArgInt(info, 2, "name");
  int value = 0;
  socklen_t len = sizeof value;
  if (getsockopt(fd, level, name, &value, &len) != 0) ThrowErrno(info.Env(), errno, "getsockopt", fd);
  return Napi::Number::New(info.Env(), value);
}

// SO_LINGER: seconds < 0 turns lingering off; 0 makes close() send a RST.
void SetLinger(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd"), seconds = ArgInt(info, 1, "seconds");
  linger l{seconds >= 0 ? 1 : 0, seconds >= 0 ? seconds : 0};
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0) ThrowErrno(info.Env(), errno, "setsockopt", fd);
}

void Bind(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(info, 1, &ss);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) ThrowErrno(info.Env(), errno, "bind", fd);
}

void Listen(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd"), backlog = ArgInt(info, 1, "backlog");
  if (listen(fd, backlog) != 0) ThrowErrno(info.Env(), errno, "listen", fd);
}

// true: connected; false: in progress (non-blocking socket).
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(info, 1, &ss);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) return Napi::Boolean::New(env, true);
  if (errno == EINPROGRESS) return Napi::Boolean::New(env, false);
  if (errno != EINTR) ThrowErrno(env, errno, "connect", fd);
  // An interrupted blocking connect goes on in the background; calling
  // connect() again would say EALREADY. Wait for it to finish instead.
  pollfd p{fd, POLLOUT, 0};
  if (RetryEintr([&] { return poll(&p, 1, -1); }) < 0) ThrowErrno(env, errno, "poll", fd);
  int err = 0;
  socklen_t elen = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) ThrowErrno(env, errno, "getsockopt", fd);
  if (err) ThrowErrno(env, err, "connect", fd);
  return Napi::Boolean::New(env, true);
}

// -> [fd, address] or null when no connection is waiting.
Napi::Value Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  sockaddr_storage ss;
  socklen_t len;
  int cfd;
  do {
    cfd = RetryEintr([&] {
      len = sizeof ss;
      return accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    });
  } while (cfd < 0 && errno == ECONNABORTED);  // a peer gave up while queued: take the next one
  if (cfd < 0) return WouldBlockOrThrow(env, "accept", fd);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, cfd);
  a.Set(1u, FromSockaddr(env, ss, len));
  return a;
}

// Small reads land in a fixed scratch buffer and are copied out exactly; a
// large maxBytes gets a buffer sized to what is waiting (FIONREAD), at least
// 64 KiB, so asking for 1 GiB neither allocates nor keeps 1 GiB.
constexpr size_t kScratch = 64 * 1024;

struct RecvTarget {
  uint8_t* data;
  size_t size;
  Napi::Buffer<uint8_t> buffer;  // empty when `data` is the scratch buffer
};

RecvTarget Target(Napi::Env env, int fd, size_t max) {
  thread_local uint8_t scratch[kScratch];
  if (max <= kScratch) return {scratch, max, Napi::Buffer<uint8_t>()};
  int avail = 0;
  size_t size = kScratch;
  if (ioctl(fd, FIONREAD, &avail) == 0 && static_cast<size_t>(avail) > size) size = avail;
  if (size > max) size = max;
  Napi::Buffer<uint8_t> b = Napi::Buffer<uint8_t>::New(env, size);
  return {b.Data(), size, b};
}

Napi::Value Result(Napi::Env env, RecvTarget& t, size_t n) {
  if (!t.buffer.IsEmpty() && n == t.size) return t.buffer;
  return Napi::Buffer<uint8_t>::Copy(env, t.data, n);
}

Napi::Value Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  int max = ArgInt(info, 1, "maxBytes");
  if (max <= 0) ThrowRangeError(env, "ERR_INVALID_ARG_VALUE", "maxBytes must be positive");
  RecvTarget t = Target(env, fd, static_cast<size_t>(max));
  ssize_t n = RetryEintr([&] { return recv(fd, t.data, t.size, 0); });
  if (n < 0) return WouldBlockOrThrow(env, "recv", fd);
  return Result(env, t, static_cast<size_t>(n));
}

// recvInto and send are the per-message hot path: raw Node-API callbacks
// (node-addon-api's CallbackInfo and Value wrappers cost a few tens of ns a
// call), one N-API call per argument; the slow paths reuse the helpers.

// fd and the bytes of an ArrayBufferView; else throws ERR_INVALID_ARG_TYPE.
void FdAndBytes(napi_env env, napi_callback_info cbinfo, int32_t* fd, Bytes* bytes) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  if (napi_get_value_int32(env, argv[0], fd) != napi_ok) {
    ThrowTypeError(Napi::Env(env), "ERR_INVALID_ARG_TYPE", "The \"fd\" argument must be of type number");
  }
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, nullptr, nullptr) != napi_ok) {
    ThrowTypeError(Napi::Env(env), "ERR_INVALID_ARG_TYPE", "data must be a Uint8Array");
  }
  *bytes = Bytes{static_cast<uint8_t*>(data), length * ElementSize(type)};
}

// n bytes, or the one would-block-or-throw tail (a SystemError).
napi_value IoResult(napi_env env, ssize_t n, const char* syscall, int fd) {
  napi_value r;
  if (n >= 0) {
    if (n <= INT32_MAX) {
      napi_create_int32(env, static_cast<int32_t>(n), &r);
    } else {
      napi_create_double(env, static_cast<double>(n), &r);
    }
    return r;
  }
  return WouldBlockOrThrow(Napi::Env(env), syscall, fd);
}

napi_value RecvInto(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    int32_t fd;
    Bytes b;
    FdAndBytes(env, cbinfo, &fd, &b);
    return IoResult(env, RetryEintr([&] { return recv(fd, b.data, b.length, 0); }), "recv", fd);
  });
}

// -> [Buffer, address] or null.
Napi::Value RecvFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  int max = ArgInt(info, 1, "maxBytes");
  if (max <= 0) ThrowRangeError(env, "ERR_INVALID_ARG_VALUE", "maxBytes must be positive");
  RecvTarget t = Target(env, fd, static_cast<size_t>(max));
  sockaddr_storage ss;
  socklen_t len;
  ssize_t n = RetryEintr([&] {
    len = sizeof ss;
    return recvfrom(fd, t.data, t.size, 0, reinterpret_cast<sockaddr*>(&ss), &len);
  });
  if (n < 0) return WouldBlockOrThrow(env, "recvfrom", fd);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Result(env, t, static_cast<size_t>(n)));
  a.Set(1u, FromSockaddr(env, ss, len));
  return a;
}

napi_value Send(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    int32_t fd;
    Bytes b;
    FdAndBytes(env, cbinfo, &fd, &b);
    // MSG_NOSIGNAL: a closed peer is EPIPE, not a process-killing SIGPIPE.
    return IoResult(env, RetryEintr([&] { return send(fd, b.data, b.length, MSG_NOSIGNAL); }), "send", fd);
  });
}

Napi::Value SendTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  Bytes b = ArgBytes(info, 1);
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(info, 2, &ss);
  ssize_t n =
      RetryEintr([&] { return sendto(fd, b.data, b.length, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&ss), len); });
  if (n < 0) return WouldBlockOrThrow(env, "sendto", fd);
  return Napi::Number::New(env, static_cast<double>(n));
}

void Shutdown(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd"), how = ArgInt(info, 1, "how");
  if (shutdown(fd, how) != 0) ThrowErrno(info.Env(), errno, "shutdown", fd);
}

Napi::Value SockName(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) ThrowErrno(info.Env(), errno, "getsockname", fd);
  return FromSockaddr(info.Env(), ss, len);
}

Napi::Value PeerName(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) ThrowErrno(info.Env(), errno, "getpeername", fd);
  return FromSockaddr(info.Env(), ss, len);
}

Napi::Value Raw(Napi::Env env, const char* name, napi_callback cb) {
  napi_value fn;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn), Napi::Value());
  return Napi::Value(env, fn);
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("socket", Function<Socket>(env, "socket"));
  s.Set("socketPair", Function<SocketPair>(env, "socketPair"));
  s.Set("setIntOption", Function<SetIntOption>(env, "setIntOption"));
  s.Set("getIntOption", Function<GetIntOption>(env, "getIntOption"));
  s.Set("setLinger", Function<SetLinger>(env, "setLinger"));
  s.Set("bind", Function<Bind>(env, "bind"));
  s.Set("listen", Function<Listen>(env, "listen"));
  s.Set("connect", Function<Connect>(env, "connect"));
  s.Set("accept", Function<Accept>(env, "accept"));
  s.Set("recv", Function<Recv>(env, "recv"));
  s.Set("recvInto", Raw(env, "recvInto", RecvInto));
  s.Set("recvFrom", Function<RecvFrom>(env, "recvFrom"));
  s.Set("send", Raw(env, "send", Send));
  s.Set("sendTo", Function<SendTo>(env, "sendTo"));
  s.Set("shutdown", Function<Shutdown>(env, "shutdown"));
  s.Set("localAddress", Function<SockName>(env, "localAddress"));
  s.Set("remoteAddress", Function<PeerName>(env, "remoteAddress"));
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* k, int v) { c.Set(k, Napi::Number::New(env, v)); };
  set("SOL_SOCKET", SOL_SOCKET);
  set("SO_REUSEADDR", SO_REUSEADDR);
  set("SO_REUSEPORT", SO_REUSEPORT);
  set("SO_ERROR", SO_ERROR);
  set("SO_SNDBUF", SO_SNDBUF);
  set("SO_RCVBUF", SO_RCVBUF);
  set("IPPROTO_TCP", IPPROTO_TCP);
  set("TCP_NODELAY", TCP_NODELAY);
  set("SHUT_RD", SHUT_RD);
  set("SHUT_WR", SHUT_WR);
  set("SHUT_RDWR", SHUT_RDWR);
  s.Set("constants", c);
  exports.Set("socket", s);
}

}  // namespace iomux::detail

// Maps an image file MAP_SHARED into a SharedArrayBuffer (the "mapped" NVM backend).
// See nvm/FORMAT.md and nvm/README.md. Context-aware, so worker threads may load it too.
//
// map(fd, reserveBytes) -> SharedArrayBuffer over the whole reserved range. The range is
//   reserved once; the file is sparse and as long as the range, so the image grows without
//   remapping. The mapping lives until the last SharedArrayBuffer sharing it (in any thread)
//   is collected.
// mapFile(fd, lengthBytes) -> ArrayBuffer over the first lengthBytes of an immutable file (sorted
//   tables), MAP_PRIVATE: the pages come from the page cache without a read() or a copy, and a
//   store through the buffer (a bug) changes a private copy, never the file. Unmapped when the
//   buffer is collected; closing the fd does not end the mapping.
// msync(sab, offsetBytes, lengthBytes) -> flushes the pages covering the range (power-loss mode).
// populate(sab, offsetBytes, lengthBytes) -> prefaults the pages of the range writable
//   (madvise MADV_POPULATE_WRITE), so that later stores do not each take a page fault; false
//   where the kernel does not support it (callers treat it as a hint).
// lock(fd) -> true if this process now holds an exclusive advisory lock (flock) on the file,
//   false if another process holds it. The kernel drops the lock when the process dies.
// crc32c(bytes, start, end) -> CRC32C of the Uint8Array range [start, end) (crc32c.cc): SSE4.2
//   where the CPU has it, else slice-by-8. crc32cPortable is always slice-by-8 (for tests);
//   crc32cHardware says which one crc32c uses.
#include <node.h>
#include <v8.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "crc32c.h"

namespace {

using v8::ArrayBuffer;
using v8::BackingStore;
using v8::Context;
using v8::Exception;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;

void ThrowErrno(Isolate* isolate, const char* what, int err) {
  std::string message = std::string(what) + " failed: " + std::strerror(err);
  Local<Value> error =
      Exception::Error(String::NewFromUtf8(isolate, message.c_str()).ToLocalChecked());
  isolate->ThrowException(error);
}

void ThrowType(Isolate* isolate, const char* message) {
  isolate->ThrowException(
      Exception::TypeError(String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

void Unmap(void* data, size_t length, void* /*deleter_data*/) { munmap(data, length); }

void Map(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  if (args.Length() < 2 || !args[0]->IsNumber() || !args[1]->IsNumber()) {
    ThrowType(isolate, "map(fd, reserveBytes) needs two numbers");
    return;
  }
  int fd = static_cast<int>(args[0]->IntegerValue(context).FromJust());
  double reserve = args[1]->NumberValue(context).FromJust();
  long page = sysconf(_SC_PAGESIZE);
  if (reserve <= 0 || reserve > 9007199254740991.0 ||
      static_cast<size_t>(reserve) % static_cast<size_t>(page) != 0) {
    ThrowType(isolate, "reserveBytes must be a positive multiple of the OS page size");
    return;
  }
  size_t length = static_cast<size_t>(reserve);
  void* data = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    ThrowErrno(isolate, "mmap", errno);
    return;
  }
  std::unique_ptr<BackingStore> store =
      SharedArrayBuffer::NewBackingStore(data, length, Unmap, nullptr);
  Local<SharedArrayBuffer> sab = SharedArrayBuffer::New(isolate, std::move(store));
  args.GetReturnValue().Set(sab);
}

void MapFile(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  if (args.Length() < 2 || !args[0]->IsNumber() || !args[1]->IsNumber()) {
    ThrowType(isolate, "mapFile(fd, lengthBytes) needs two numbers");
    return;
  }
  int fd = static_cast<int>(args[0]->IntegerValue(context).FromJust());
  double requested = args[1]->NumberValue(context).FromJust();
  if (requested <= 0 || requested > 9007199254740991.0) {
    ThrowType(isolate, "lengthBytes must be positive");
    return;
  }
  size_t length = static_cast<size_t>(requested);
  void* data = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (data == MAP_FAILED) {
    ThrowErrno(isolate, "mmap", errno);
    return;
  }
  std::unique_ptr<BackingStore> store = ArrayBuffer::NewBackingStore(data, length, Unmap, nullptr);
  args.GetReturnValue().Set(ArrayBuffer::New(isolate, std::move(store)));
}

void Msync(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  if (args.Length() < 3 || !args[0]->IsSharedArrayBuffer() || !args[1]->IsNumber() ||
      !args[2]->IsNumber()) {
    ThrowType(isolate, "msync(sab, offsetBytes, lengthBytes) needs a SharedArrayBuffer and two numbers");
    return;
  }
  Local<SharedArrayBuffer> sab = args[0].As<SharedArrayBuffer>();
  std::shared_ptr<BackingStore> store = sab->GetBackingStore();
  double offset = args[1]->NumberValue(context).FromJust();
  double length = args[2]->NumberValue(context).FromJust();
  size_t size = store->ByteLength();
  if (offset < 0 || length < 0 || offset + length > static_cast<double>(size)) {
    ThrowType(isolate, "msync range is outside the mapping");
    return;
  }
  if (length == 0) return;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t start = static_cast<size_t>(offset) / page * page;
  size_t end = static_cast<size_t>(offset + length);
  char* base = static_cast<char*>(store->Data());
  if (msync(base + start, end - start, MS_SYNC) != 0) {
    ThrowErrno(isolate, "msync", errno);
  }
}

void Populate(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  if (args.Length() < 3 || !args[0]->IsSharedArrayBuffer() || !args[1]->IsNumber() ||
      !args[2]->IsNumber()) {
    ThrowType(isolate, "populate(sab, offsetBytes, lengthBytes) needs a SharedArrayBuffer and two numbers");
    return;
  }
  std::shared_ptr<BackingStore> store = args[0].As<SharedArrayBuffer>()->GetBackingStore();
  double offset = args[1]->NumberValue(context).FromJust();
  double length = args[2]->NumberValue(context).FromJust();
  if (offset < 0 || length < 0 || offset + length > static_cast<double>(store->ByteLength())) {
    ThrowType(isolate, "populate range is outside the mapping");
    return;
  }
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t start = static_cast<size_t>(offset) / page * page;
  size_t end = (static_cast<size_t>(offset + length) + page - 1) / page * page;
  char* base = static_cast<char*>(store->Data());
#ifdef MADV_POPULATE_WRITE
  bool ok = end <= start || madvise(base + start, end - start, MADV_POPULATE_WRITE) == 0;
#else
  bool ok = false;
#endif
  args.GetReturnValue().Set(ok);
}

void Lock(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  if (args.Length() < 1 || !args[0]->IsNumber()) {
    ThrowType(isolate, "lock(fd) needs a number");
    return;
  }
  int fd = static_cast<int>(args[0]->IntegerValue(context).FromJust());
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    args.GetReturnValue().Set(true);
    return;
  }
  if (errno == EWOULDBLOCK) {
    args.GetReturnValue().Set(false);
    return;
  }
  ThrowErrno(isolate, "flock", errno);
}

using Crc32cFunction = uint32_t (*)(const uint8_t*, size_t);

// Checks crc32c(bytes, start, end) arguments and returns the CRC of the range through `compute`.
template <Crc32cFunction compute>
void Crc32cRange(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (args.Length() < 3 || !args[0]->IsUint8Array() || !args[1]->IsUint32() ||
      !args[2]->IsUint32()) {
    ThrowType(isolate, "crc32c(bytes, start, end) needs a Uint8Array and two indexes");
    return;
  }
  Local<v8::Uint8Array> view = args[0].As<v8::Uint8Array>();
  uint32_t start = args[1].As<v8::Uint32>()->Value();
  uint32_t end = args[2].As<v8::Uint32>()->Value();
  if (start > end || end > view->ByteLength()) {
    ThrowType(isolate, "crc32c range is outside the array");
    return;
  }
  uint32_t crc;
  if (view->HasBuffer()) {
    // Off-heap bytes (every array over 64 bytes, and any view of an ArrayBuffer): read in place.
    const uint8_t* data = static_cast<const uint8_t*>(view->Buffer()->Data());
    crc = data == nullptr ? compute(nullptr, 0)
                          : compute(data + view->ByteOffset() + start, end - start);
  } else {
    // A small array still on the V8 heap: Buffer() would move it off the heap, so copy it.
    uint8_t copy[256];
    if (view->CopyContents(copy, sizeof(copy)) < end) {
      ThrowType(isolate, "crc32c: an on-heap array longer than expected");
      return;
    }
    crc = compute(copy + start, end - start);
  }
  args.GetReturnValue().Set(crc);
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "map", Map);
  NODE_SET_METHOD(exports, "mapFile", MapFile);
  NODE_SET_METHOD(exports, "msync", Msync);
  NODE_SET_METHOD(exports, "lock", Lock);
  NODE_SET_METHOD(exports, "populate", Populate);
  NODE_SET_METHOD(exports, "crc32c", Crc32cRange<strata::Crc32c>);
  NODE_SET_METHOD(exports, "crc32cPortable", Crc32cRange<strata::Crc32cPortable>);
  exports
      ->Set(context, String::NewFromUtf8Literal(context->GetIsolate(), "crc32cHardware"),
            v8::Boolean::New(context->GetIsolate(), strata::Crc32cHardware()))
      .Check();
  (void)module;
}

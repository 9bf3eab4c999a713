// Restricted pickle interpreter (see unpickler.h). The opcode table follows Python's
// Lib/pickletools.py descriptions; the *semantics* of REDUCE/BUILD/APPENDS/SETITEMS are replaced
// by data-only versions for the few callables a state dict uses. Every length read from the input
// is checked against the bytes that remain before anything is allocated, and the stack and memo
// are bounded, so a hostile pickle costs at most O(input) memory and time.
#include "core/io/unpickler.h"

#include <cstring>
#include <string_view>

#include "core/util/bytes.h"
#include "core/util/error.h"
#include "core/util/quote.h"

namespace ms {

const PickleValue* PickleValue::get(const std::string& key) const {
  const auto it = str_index.find(key);
  return it == str_index.end() ? nullptr : entries[it->second].second;
}

namespace {

struct StorageType {
  std::string_view name;
  DType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.FloatStorage", DType::F32},     {"torch.HalfStorage", DType::F16},
    {"torch.BFloat16Storage", DType::BF16}, {"torch.DoubleStorage", DType::F64},
    {"torch.LongStorage", DType::I64},      {"torch.IntStorage", DType::I32},
    {"torch.ShortStorage", DType::I16},     {"torch.CharStorage", DType::I8},
    {"torch.ByteStorage", DType::U8},       {"torch.BoolStorage", DType::Bool},
};
constexpr std::string_view kOrderedDict = "collections.OrderedDict";
constexpr std::string_view kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr std::string_view kRebuildParam = "torch._utils._rebuild_parameter";
constexpr std::string_view kRebuildParamState = "torch._utils._rebuild_parameter_with_state";

const StorageType* storage_type(std::string_view name) {
  for (const auto& s : kStorageTypes)
    if (s.name == name) return &s;
  return nullptr;
}

bool allowed_global(std::string_view name) {
  return name == kOrderedDict || name == kRebuildTensor || name == kRebuildParam ||
         name == kRebuildParamState || storage_type(name) != nullptr;
}

}  // namespace

class Unpickler {
 public:
  Unpickler(std::span<const std::byte> in, const std::string& where, const UnpickleLimits& limits)
      : in_(in), where_(where), limits_(limits) {}

  PickleDocument run();

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(where_, "pickle offset " + std::to_string(op_pos_) + ": " + what);
  }
  const std::byte* take(std::size_t n) {
    if (in_.size() - pos_ < n) fail("truncated (needs " + std::to_string(n) + " more bytes)");
    const std::byte* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint64_t take_le(std::size_t n) { return load_le(take(n), n); }
  std::string take_string(uint64_t n) {
    if (n > in_.size() - pos_)
      fail("string length " + std::to_string(n) + " exceeds the remaining input");
    const char* p = reinterpret_cast<const char*>(take(static_cast<std::size_t>(n)));
    return std::string(p, static_cast<std::size_t>(n));
  }
  std::string take_line() {
    const std::size_t left = in_.size() - pos_;
    const void* nl = std::memchr(in_.data() + pos_, '\n', left);
    if (nl == nullptr) fail("unterminated GLOBAL line");
    const std::size_t n = static_cast<const std::byte*>(nl) - (in_.data() + pos_);
    std::string s = take_string(n);
    ++pos_;
    return s;
  }

  PickleValue* make(PickleKind kind) {
    if (doc_.arena_.size() >= limits_.max_nodes) fail("more values than the limit");
    doc_.arena_.push_back(std::make_unique<PickleValue>());
    doc_.arena_.back()->kind = kind;
    return doc_.arena_.back().get();
  }
  void push(PickleValue* v) {
    if (stack_.size() >= limits_.max_stack) fail("stack deeper than the limit");
    stack_.push_back(v);
  }
  PickleValue* pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("stack underflow");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleValue* top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("stack underflow");
    return stack_.back();
  }
  std::vector<PickleValue*> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  void memo_put(uint64_t index) {
    PickleValue* v = top();
    if (memo_.size() >= limits_.max_memo && memo_.find(index) == memo_.end())
      fail("memo larger than the limit");
    memo_[index] = v;
  }
  PickleValue* memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo key " + std::to_string(index) + " not defined");
    return it->second;
  }
  PickleValue* make_int(int64_t v) {
    PickleValue* n = make(PickleKind::Int);
    n->integer = v;
    return n;
  }
  PickleValue* make_str(std::string s, PickleKind kind = PickleKind::Str) {
    PickleValue* n = make(kind);
    n->text = std::move(s);
    return n;
  }
  PickleValue* make_tuple(std::vector<PickleValue*> items) {
    PickleValue* n = make(PickleKind::Tuple);
    n->items = std::move(items);
    return n;
  }
  PickleValue* make_global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!allowed_global(full))
      fail("refused global " + quote_name(full) + " (only torch state-dict globals are allowed)");
    return make_str(full, PickleKind::Global);
  }
  void set_item(PickleValue* dict, PickleValue* key, PickleValue* value) {
    if (dict->kind != PickleKind::Dict) fail("SETITEM on a non-dict refused");
    if (key->kind == PickleKind::Str) {
      // Python dict semantics: a repeated key replaces the value in place.
      const auto [it, inserted] = dict->str_index.emplace(key->text, dict->entries.size());
      if (!inserted) {
        dict->entries[it->second].second = value;
        return;
      }
    }
    dict->entries.emplace_back(key, value);
  }
  std::vector<int64_t> int_tuple(const PickleValue* v, const char* what) {
    if (v->kind != PickleKind::Tuple) fail(std::string(what) + " is not a tuple");
    std::vector<int64_t> out;
    for (const PickleValue* x : v->items) {
      if (x->kind != PickleKind::Int) fail(std::string(what) + " holds a non-integer");
      out.push_back(x->integer);
    }
    return out;
  }

  PickleValue* persistent_load(PickleValue* pid);
  PickleValue* reduce(PickleValue* callable, PickleValue* args);
  void build(PickleValue* target, PickleValue* state);
  bool step();  // one opcode; false after STOP

  std::span<const std::byte> in_;
  std::string where_;
  UnpickleLimits limits_;
  std::size_t pos_ = 0, op_pos_ = 0;
  PickleDocument doc_;
  std::vector<PickleValue*> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

PickleValue* Unpickler::persistent_load(PickleValue* pid) {
  // torch.save: ('storage', torch.<T>Storage, key, location, numel).
  if (pid->kind != PickleKind::Tuple || pid->items.size() != 5)
    fail("persistent id is not a 5-tuple");
  const auto& it = pid->items;
  if (it[0]->kind != PickleKind::Str || it[0]->text != "storage")
    fail("persistent id is not a 'storage'");
  if (it[1]->kind != PickleKind::Global || storage_type(it[1]->text) == nullptr)
    fail("persistent id names no torch storage type");
  if (it[2]->kind != PickleKind::Str) fail("storage key is not a string");
  if (it[3]->kind != PickleKind::Str) fail("storage location is not a string");
  if (it[4]->kind != PickleKind::Int || it[4]->integer < 0)
    fail("storage numel is not a non-negative integer");
  PickleValue* s = make(PickleKind::Storage);
  s->storage = {it[2]->text, storage_type(it[1]->text)->dtype, it[3]->text, it[4]->integer};
  return s;
}

PickleValue* Unpickler::reduce(PickleValue* callable, PickleValue* args) {
  if (callable->kind != PickleKind::Global) fail("REDUCE on a non-global refused");
  if (args->kind != PickleKind::Tuple) fail("REDUCE arguments are not a tuple");
  const std::string& f = callable->text;
  const auto& a = args->items;
  if (f == kOrderedDict) {
    if (!a.empty()) fail("collections.OrderedDict called with arguments refused");
    return make(PickleKind::Dict);
  }
  if (f == kRebuildTensor) {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (a.size() != 6 && a.size() != 7) fail("_rebuild_tensor_v2 expects 6 or 7 arguments");
    if (a[0]->kind != PickleKind::Storage)
      fail("_rebuild_tensor_v2: first argument is not a storage");
    if (a[1]->kind != PickleKind::Int) fail("_rebuild_tensor_v2: storage offset is not an integer");
    if (a[4]->kind != PickleKind::Bool) fail("_rebuild_tensor_v2: requires_grad is not a bool");
    if (a[5]->kind != PickleKind::Dict && a[5]->kind != PickleKind::None)
      fail("_rebuild_tensor_v2: backward hooks are not a dict");
    if (a.size() == 7 && a[6]->kind != PickleKind::Dict && a[6]->kind != PickleKind::None)
      fail("_rebuild_tensor_v2: metadata is not a dict");
    PickleValue* t = make(PickleKind::Tensor);
    t->tensor.storage = a[0];
    t->tensor.storage_offset = a[1]->integer;
    t->tensor.size = int_tuple(a[2], "tensor size");
    t->tensor.stride = int_tuple(a[3], "tensor stride");
    t->tensor.requires_grad = a[4]->boolean;
    if (t->tensor.size.size() != t->tensor.stride.size())
      fail("tensor size and stride differ in length");
    return t;
  }
  if (f == kRebuildParam || f == kRebuildParamState) {
    // (data, requires_grad, backward_hooks[, state]): the parameter is its tensor; the Python
    // attribute state of _with_state is plain data and ignored.
    if (a.size() != (f == kRebuildParam ? 3u : 4u)) fail(f + ": wrong number of arguments");
    if (a[0]->kind != PickleKind::Tensor) fail(f + ": data is not a tensor");
    if (a[1]->kind != PickleKind::Bool) fail(f + ": requires_grad is not a bool");
    PickleValue* t = make(PickleKind::Tensor);
    t->tensor = a[0]->tensor;
    t->tensor.requires_grad = a[1]->boolean;
    return t;
  }
  fail("REDUCE of " + quote_name(f) + " refused");
}

void Unpickler::build(PickleValue* target, PickleValue* state) {
  // A state_dict is an OrderedDict carrying `_metadata` (module versions) as instance state.
  // Accept that, or nothing; any other state would be setattr on an object, which we refuse.
  if (target->kind != PickleKind::Dict) fail("BUILD on a non-dict refused");
  if (state->kind == PickleKind::None) return;
  if (state->kind != PickleKind::Dict) fail("BUILD with a non-dict state refused");
  for (const auto& [k, v] : state->entries) {
    if (k->kind != PickleKind::Str || k->text != "_metadata")
      fail("BUILD state other than _metadata refused");
  }
}

bool Unpickler::step() {
  op_pos_ = pos_;
  const auto op = static_cast<uint8_t>(*take(1));
  // One opcode per line or block, its pickletools name beside it.
  // clang-format off
  switch (op) {
    case 0x80: {  // PROTO
      const auto v = static_cast<uint8_t>(*take(1));
      if (v < 2 || v > 5) fail("pickle protocol " + std::to_string(v) + " not supported");
      break;
    }
    case 0x95: take(8); break;  // FRAME: a length hint; frames are read inline
    case '.': return false;     // STOP
    case '(':                   // MARK
      if (marks_.size() >= limits_.max_stack) fail("too many MARKs");
      marks_.push_back(stack_.size());
      break;
    case 'N': push(make(PickleKind::None)); break;
    case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
      PickleValue* b = make(PickleKind::Bool);
      b->boolean = op == 0x88;
      push(b);
      break;
    }
    case 'J': push(make_int(static_cast<int32_t>(take_le(4)))); break;  // BININT
    case 'K': push(make_int(static_cast<int64_t>(take_le(1)))); break;  // BININT1
    case 'M': push(make_int(static_cast<int64_t>(take_le(2)))); break;  // BININT2
    case 0x8a: case 0x8b: {  // LONG1, LONG4: little-endian two's complement of n bytes
      const uint64_t n = take_le(op == 0x8a ? 1 : 4);
      if (n > 8) fail("integer wider than 64 bits");
      uint64_t v = n == 0 ? 0 : take_le(static_cast<std::size_t>(n));
      if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
      push(make_int(static_cast<int64_t>(v)));
      break;
    }
    case 'G': {  // BINFLOAT: big-endian IEEE double
      const std::byte* p = take(8);
      uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint64_t>(p[i]);
      PickleValue* f = make(PickleKind::Float);
      std::memcpy(&f->real, &bits, 8);
      push(f);
      break;
    }
    case 'X': push(make_str(take_string(take_le(4)))); break;     // BINUNICODE
    case 0x8c: push(make_str(take_string(take_le(1)))); break;    // SHORT_BINUNICODE
    case 0x8d: push(make_str(take_string(take_le(8)))); break;    // BINUNICODE8
    case 'T': push(make_str(take_string(take_le(4)))); break;     // BINSTRING (py2 str)
    case 'U': push(make_str(take_string(take_le(1)))); break;     // SHORT_BINSTRING
    case 'B': push(make_str(take_string(take_le(4)), PickleKind::Bytes)); break;   // BINBYTES
    case 'C': push(make_str(take_string(take_le(1)), PickleKind::Bytes)); break;   // SHORT_BINBYTES
    case 0x8e: push(make_str(take_string(take_le(8)), PickleKind::Bytes)); break;  // BINBYTES8
    case ')': push(make(PickleKind::Tuple)); break;  // EMPTY_TUPLE
    case ']': push(make(PickleKind::List)); break;   // EMPTY_LIST
    case '}': push(make(PickleKind::Dict)); break;   // EMPTY_DICT
    case 't': push(make_tuple(pop_mark())); break;   // TUPLE
    case 0x85: case 0x86: case 0x87: {                // TUPLE1..3
      std::vector<PickleValue*> items(op - 0x84);
      for (std::size_t i = items.size(); i-- > 0;) items[i] = pop();
      push(make_tuple(std::move(items)));
      break;
    }
    case 'l': {  // LIST
      PickleValue* l = make(PickleKind::List);
      l->items = pop_mark();
      push(l);
      break;
    }
    case 'd': {  // DICT
      auto items = pop_mark();
      if (items.size() % 2) fail("DICT with an odd number of items");
      PickleValue* d = make(PickleKind::Dict);
      for (std::size_t i = 0; i < items.size(); i += 2) set_item(d, items[i], items[i + 1]);
      push(d);
      break;
    }
    case 'a': {  // APPEND
      PickleValue* v = pop();
      PickleValue* l = top();
      if (l->kind != PickleKind::List) fail("APPEND on a non-list refused");
      l->items.push_back(v);
      break;
    }
    case 'e': {  // APPENDS
      auto items = pop_mark();
      PickleValue* l = top();
      if (l->kind != PickleKind::List) fail("APPENDS on a non-list refused");
      l->items.insert(l->items.end(), items.begin(), items.end());
      break;
    }
    case 's': {  // SETITEM
      PickleValue* v = pop();
      PickleValue* k = pop();
      set_item(top(), k, v);
      break;
    }
    case 'u': {  // SETITEMS
      auto items = pop_mark();
      if (items.size() % 2) fail("SETITEMS with an odd number of items");
      PickleValue* d = top();
      for (std::size_t i = 0; i < items.size(); i += 2) set_item(d, items[i], items[i + 1]);
      break;
    }
    case '0': pop(); break;         // POP
    case '1': pop_mark(); break;    // POP_MARK
    case '2': push(top()); break;   // DUP
    case 'q': memo_put(take_le(1)); break;  // BINPUT
    case 'r': memo_put(take_le(4)); break;  // LONG_BINPUT
    case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
    case 'h': push(memo_get(take_le(1))); break;  // BINGET
    case 'j': push(memo_get(take_le(4))); break;  // LONG_BINGET
    case 'c': {  // GLOBAL "module\nname\n"
      std::string module = take_line();
      std::string name = take_line();
      push(make_global(module, name));
      break;
    }
    case 0x93: {  // STACK_GLOBAL
      PickleValue* name = pop();
      PickleValue* module = pop();
      if (module->kind != PickleKind::Str || name->kind != PickleKind::Str) fail("STACK_GLOBAL of non-strings");
      push(make_global(module->text, name->text));
      break;
    }
    case 'Q': {  // BINPERSID
      PickleValue* pid = pop();
      push(persistent_load(pid));
      break;
    }
    case 'R': {  // REDUCE
      PickleValue* args = pop();
      PickleValue* callable = pop();
      push(reduce(callable, args));
      break;
    }
    case 'b': {  // BUILD
      PickleValue* state = pop();
      build(top(), state);
      break;
    }
    case 0x81: fail("opcode NEWOBJ refused (object construction)");
    case 0x92: fail("opcode NEWOBJ_EX refused (object construction)");
    case 'i': fail("opcode INST refused (object construction)");
    case 'o': fail("opcode OBJ refused (object construction)");
    case 0x82: case 0x83: case 0x84: fail("extension registry opcodes refused");
    case 'P': fail("text persistent ids refused");
    default: {
      static const char* hex = "0123456789abcdef";
      fail(std::string("unsupported opcode 0x") + hex[op >> 4] + hex[op & 15]);
    }
  }
  // clang-format on
  return true;
}

PickleDocument Unpickler::run() {
  while (step()) {
  }
  if (stack_.empty()) fail("STOP with an empty stack");
  doc_.root_ = stack_.back();
  return std::move(doc_);
}

PickleDocument unpickle(std::span<const std::byte> bytes, const std::string& where,
                        const UnpickleLimits& limits) {
  Unpickler u(bytes, where, limits);
  return u.run();
}

}  // namespace ms

// TensorStore: named views plus the mappings that keep their bytes alive. Lookups by name only;
// it knows nothing of layouts (core/model maps names).
#include "core/io/tensor_store.h"

#include "core/util/error.h"
#include "core/util/quote.h"

namespace ms {

void TensorStore::add_mapping(std::shared_ptr<const MappedFile> file) {
  if (file) mappings_.push_back(std::move(file));
}

void TensorStore::add(TensorView view, const std::filesystem::path& source) {
  const auto it = sources_.find(view.name);
  if (it != sources_.end()) {
    throw InputError(source.string(), "duplicate tensor " + quote_name(view.name) +
                                          " (already read from " + it->second.string() + ")");
  }
  sources_.emplace(view.name, source);
  std::string name = view.name;
  tensors_.emplace(std::move(name), std::move(view));
}

const TensorView* TensorStore::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& TensorStore::at(const std::string& name) const {
  const TensorView* v = find(name);
  if (v == nullptr) throw InputError(name, "tensor not found in the checkpoint");
  return *v;
}

std::size_t TensorStore::total_bytes() const {
  std::size_t n = 0;
  for (const auto& [name, view] : tensors_) n += view.nbytes;
  return n;
}

const std::filesystem::path& TensorStore::source_of(const std::string& name) const {
  const auto it = sources_.find(name);
  if (it == sources_.end()) throw InputError(name, "tensor not found in the checkpoint");
  return it->second;
}

void TensorStore::rename(const std::string& from, const std::string& to) {
  if (from == to) return;
  auto node = tensors_.extract(from);
  if (node.empty()) return;
  if (tensors_.count(to) != 0) {
    tensors_.insert(std::move(node));  // leave the store as it was
    throw InputError(to, "cannot rename " + quote_name(from) + ": the target name already exists");
  }
  node.key() = to;
  node.mapped().name = to;
  tensors_.insert(std::move(node));
  auto src = sources_.extract(from);
  src.key() = to;
  sources_.insert(std::move(src));
}

}  // namespace ms

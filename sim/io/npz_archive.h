// Reading and writing NumPy .npz archives (uncompressed zip of .npy arrays, as numpy.savez
// writes them), memory-mapped so that large traces are never loaded whole. Only what moesim's
// trace format needs: little-endian int16/int32/float32/uint8 arrays in C order.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace moesim {

struct NpyArray {
  std::string dtype;             // "i2", "i4", "f4", "u1"
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr; // into the mapping
  int64_t count() const;
  int64_t item_bytes() const;
};

class NpzReader {
 public:
  explicit NpzReader(const std::string& path);  // throws InputError naming the file and offset
  ~NpzReader();
  NpzReader(const NpzReader&) = delete;
  NpzReader& operator=(const NpzReader&) = delete;
  bool has(const std::string& name) const { return arrays_.count(name) > 0; }
  // The members' names (without ".npy"), sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : arrays_) out.push_back(name);
    return out;
  }
  const NpyArray& array(const std::string& name) const;  // name without ".npy"
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, NpyArray> arrays_;
  // Whether [offset, offset + length) lies inside the file, without wrapping (offsets and
  // lengths read from the file may be anything up to 2^64 - 1).
  bool within(uint64_t offset, uint64_t length) const { return offset <= size_ && length <= size_ - offset; }
  // The end record's checks; returns the central directory's offset and its entry count.
  std::pair<uint64_t, uint64_t> central_directory() const;
  // Reads the central directory entry at `cd` and the member it names into arrays_; returns the
  // offset of the next entry.
  uint64_t read_entry(uint64_t cd);
};

class NpzWriter {
 public:
  void add(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape, const void* data, size_t bytes);
  // Writes atomically (temporary file + rename).
  void write(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    std::string bytes;
  };
  std::vector<Entry> entries_;
};

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace moesim

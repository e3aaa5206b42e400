#include "sim/io/npz_archive.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include <fmt/format.h>

#include "sim/io/atomic_file.h"
#include "sim/io/errors.h"
#include "sim/io/input_file.h"

namespace moesim {
namespace {

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t rd32(const uint8_t* p) { return rd16(p) | (static_cast<uint32_t>(rd16(p + 2)) << 16); }
uint64_t rd64(const uint8_t* p) { return rd32(p) | (static_cast<uint64_t>(rd32(p + 4)) << 32); }
void wr16(std::string& s, uint16_t v) { s.push_back(char(v & 0xff)), s.push_back(char(v >> 8)); }
void wr32(std::string& s, uint32_t v) { wr16(s, uint16_t(v & 0xffff)), wr16(s, uint16_t(v >> 16)); }

// What the header of a .npy member says.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// The header numpy writes: a Python dict literal with exactly the keys 'descr' (a string),
// 'fortran_order' (True / False) and 'shape' (a tuple of whole numbers), then spaces and a
// newline (numpy.lib.format). Anything else is refused, as numpy refuses it.
template <typename Bad>
NpyHeader parse_npy_header(const std::string& h, const Bad& bad) {
  size_t i = 0;
  auto skip = [&] {
    while (i < h.size() && h[i] == ' ') ++i;
  };
  auto expect = [&](char c, const char* what) {
    skip();
    if (i >= h.size() || h[i] != c) throw bad(fmt::format("header: expected {} at byte {}", what, i));
    ++i;
  };
  auto quoted = [&] {
    expect('\'', "a quoted string");
    const size_t end = h.find('\'', i);
    if (end == std::string::npos) throw bad("header: unterminated string");
    std::string v = h.substr(i, end - i);
    i = end + 1;
    return v;
  };
  NpyHeader out;
  std::set<std::string> seen;
  expect('{', "'{'");
  for (skip(); i < h.size() && h[i] != '}'; skip()) {
    const std::string key = quoted();
    if (!seen.insert(key).second) throw bad("header: key '" + key + "' given twice");
    expect(':', "':'");
    skip();
    if (key == "descr") {
      out.descr = quoted();
    } else if (key == "fortran_order") {
      if (h.compare(i, 4, "True") == 0) out.fortran_order = true, i += 4;
      else if (h.compare(i, 5, "False") == 0) i += 5;
      else throw bad("header: fortran_order must be True or False");
    } else if (key == "shape") {
      expect('(', "'(' opening the shape");
      for (skip(); i < h.size() && h[i] != ')'; skip()) {
        const size_t j0 = i;
        while (i < h.size() && std::isdigit(static_cast<unsigned char>(h[i]))) ++i;
        if (i == j0) throw bad("bad shape");
        if (i - j0 > 15) throw bad("shape dimension too large");
        out.shape.push_back(std::stoll(h.substr(j0, i - j0)));
        skip();
        if (i < h.size() && h[i] == ',') ++i;
        else if (i < h.size() && h[i] != ')') throw bad("bad shape");
      }
      expect(')', "')' closing the shape");
    } else {
      throw bad("header: unknown key '" + key + "' (a .npy header holds descr, fortran_order and shape)");
    }
    skip();
    if (i < h.size() && h[i] == ',') ++i;
    else if (i < h.size() && h[i] != '}') throw bad(fmt::format("header: expected ',' or '}}' at byte {}", i));
  }
  expect('}', "'}' closing the header");
  for (const char* key : {"descr", "fortran_order", "shape"})
    if (!seen.count(key)) throw bad(std::string("header lacks ") + key);
  skip();
  if (i + 1 != h.size() || h[i] != '\n') throw bad("header: expected spaces and one newline after the '}'");
  return out;
}

NpyArray parse_npy(const std::string& file, const std::string& name, const uint8_t* p, uint64_t size) {
  auto bad = [&](const std::string& what) { return input_error(file, name, "not a valid .npy array: " + what); };
  if (size < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) throw bad("missing magic");
  const int major = p[6];
  uint64_t header_len = 0, header_at = 0;
  if (major == 1) header_len = rd16(p + 8), header_at = 10;
  else if (major == 2 || major == 3) {
    if (size < 12) throw bad("truncated header");
    header_len = rd32(p + 8), header_at = 12;
  } else throw bad(fmt::format("unsupported version {}", major));
  if (header_at + header_len > size) throw bad("truncated header");
  const NpyHeader hd = parse_npy_header(std::string(reinterpret_cast<const char*>(p + header_at), header_len), bad);
  NpyArray a;
  const std::string& descr = hd.descr;
  if (descr.size() < 2 || (descr[0] != '<' && descr[0] != '|')) throw bad("only little-endian arrays are read, got " + descr);
  a.dtype = descr.substr(1);
  if (a.dtype != "i2" && a.dtype != "i4" && a.dtype != "f4" && a.dtype != "u1") throw bad("unsupported dtype " + descr);
  if (hd.fortran_order) throw bad("Fortran-order arrays are not supported");
  a.shape = hd.shape;
  const uint64_t data_at = header_at + header_len;
  a.data = p + data_at;
  // The element count must fit the member: checked without overflow, dimension by dimension.
  uint64_t want = static_cast<uint64_t>(a.item_bytes());
  for (int64_t dim : a.shape) {
    if (dim != 0 && want > (size - data_at) / static_cast<uint64_t>(dim))
      throw bad(fmt::format("data truncated: shape needs more than the {} bytes present", size - data_at));
    want *= static_cast<uint64_t>(dim);
  }
  if (size - data_at < want)
    throw bad(fmt::format("data truncated: {} bytes expected, {} present", want, size - data_at));
  if (size - data_at > want)  // a stale header length would shift the data: refused, not guessed
    throw bad(fmt::format("{} bytes after the data the header's shape describes ({} bytes)", size - data_at - want, want));
  return a;
}

}  // namespace

int64_t NpyArray::count() const {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

int64_t NpyArray::item_bytes() const { return dtype == "u1" ? 1 : dtype == "i2" ? 2 : 4; }

NpzReader::NpzReader(const std::string& path) : path_(path) {
  check_input_file(path, kMaxBinaryFileBytes, "an archive");
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw input_error(path, "", "cannot open file");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 22) {
    ::close(fd);
    throw input_error(path, "", "not a .npz archive (file too short)");
  }
  size_ = static_cast<size_t>(st.st_size);
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw input_error(path, "", "cannot map file");
  base_ = static_cast<const uint8_t*>(m);
  try {
    auto [cd, entries] = central_directory();
    for (uint64_t e = 0; e < entries; ++e) cd = read_entry(cd);
  } catch (...) {
    ::munmap(const_cast<uint8_t*>(base_), size_);
    throw;
  }
}

std::pair<uint64_t, uint64_t> NpzReader::central_directory() const {
  const std::string& path = path_;
  // End of central directory: scan back over a possible comment.
  int64_t eocd = -1;
  for (int64_t at = static_cast<int64_t>(size_) - 22; at >= 0 && at >= static_cast<int64_t>(size_) - 22 - 65535; --at)
    if (rd32(base_ + at) == 0x06054b50) {
      eocd = at;
      break;
    }
  if (eocd < 0) throw input_error(path, "", "not a .npz archive (no zip end record; truncated file?)");
  const uint64_t end = static_cast<uint64_t>(eocd) + 22 + rd16(base_ + eocd + 20);  // the record and its comment
  if (end != size_)
    throw input_error(path, "", fmt::format("{} bytes after the zip end record (a damaged or concatenated file?)", size_ > end ? size_ - end : end - size_));
  if (rd16(base_ + eocd + 4) != 0 || rd16(base_ + eocd + 6) != 0)
    throw input_error(path, "", "a multi-disk (split) zip archive; numpy.savez writes one file");
  const uint64_t entries = rd16(base_ + eocd + 10);
  uint64_t cd = rd32(base_ + eocd + 16);
  if (cd == 0xFFFFFFFFu && eocd >= 20 && rd32(base_ + eocd - 20) == 0x07064b50) {
    const uint64_t z64 = rd64(base_ + eocd - 20 + 8);
    if (!within(z64, 56)) throw input_error(path, "", "corrupt zip64 end record");
    cd = rd64(base_ + z64 + 48);
  }
  return {cd, entries};
}

uint64_t NpzReader::read_entry(uint64_t cd) {
  const std::string& path = path_;
  if (!within(cd, 46) || rd32(base_ + cd) != 0x02014b50)
    throw input_error(path, fmt::format("offset {}", cd), "corrupt zip central directory (truncated file?)");
  const uint16_t method = rd16(base_ + cd + 10);
  uint64_t comp = rd32(base_ + cd + 20), uncomp = rd32(base_ + cd + 24);
  const uint16_t name_len = rd16(base_ + cd + 28), extra_len = rd16(base_ + cd + 30), comment_len = rd16(base_ + cd + 32);
  uint64_t local = rd32(base_ + cd + 42);
  if (!within(cd, 46 + uint64_t{name_len} + extra_len)) throw input_error(path, fmt::format("offset {}", cd), "corrupt zip entry");
  std::string name(reinterpret_cast<const char*>(base_ + cd + 46), name_len);
  // zip64 extra field: the 8-byte values replace the 0xFFFFFFFF ones, in this order.
  for (uint64_t x = cd + 46 + name_len; x + 4 <= cd + 46 + name_len + extra_len;) {
    const uint16_t id = rd16(base_ + x), len = rd16(base_ + x + 2);
    if (id == 0x0001) {
      const uint64_t end = x + 4 + len;
      uint64_t y = x + 4;
      auto next64 = [&](uint64_t& field) {
        if (field != 0xFFFFFFFFu) return;
        if (y + 8 > end || !within(y, 8)) throw input_error(path, name, "corrupt zip64 extra field");
        field = rd64(base_ + y), y += 8;
      };
      next64(uncomp);
      next64(comp);
      next64(local);
    }
    x += 4 + len;
  }
  if (method != 0) throw input_error(path, name, "compressed member; write traces with numpy.savez, not savez_compressed");
  if (rd16(base_ + cd + 8) & 1) throw input_error(path, name, "encrypted member; numpy.savez writes plain ones");
  if (!within(local, 30) || rd32(base_ + local) != 0x04034b50) throw input_error(path, name, "corrupt local zip header");
  const uint16_t local_name_len = rd16(base_ + local + 26);
  if (!within(local + 30, local_name_len) || local_name_len != name.size() || std::memcmp(base_ + local + 30, name.data(), name.size()) != 0)
    throw input_error(path, name, "the local zip header names another member than the central directory");
  const uint64_t data = local + 30 + rd16(base_ + local + 26) + rd16(base_ + local + 28);
  if (!within(data, comp))
    throw input_error(path, name, fmt::format("corrupt zip entry: member truncated (needs {} bytes at offset {}, the file has {})", comp, data, size_));
  if (name.size() > 4 && name.ends_with(".npy")) name = name.substr(0, name.size() - 4);
  if (arrays_.count(name)) throw input_error(path, name, "the archive holds this member twice (which one counts would be a guess)");
  arrays_[name] = parse_npy(path, name, base_ + data, comp);
  return cd + 46 + name_len + extra_len + comment_len;
}

NpzReader::~NpzReader() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

const NpyArray& NpzReader::array(const std::string& name) const {
  auto it = arrays_.find(name);
  if (it == arrays_.end()) throw input_error(path_, name, "array missing from the archive");
  return it->second;
}

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  static uint32_t table[256];
  static const bool ready = [] {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    return true;
  }();
  (void)ready;
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

void NpzWriter::add(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape, const void* data, size_t bytes) {
  std::string shape_text = "(";
  for (size_t i = 0; i < shape.size(); ++i) shape_text += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  shape_text += ")";
  std::string header = fmt::format("{{'descr': '{}{}', 'fortran_order': False, 'shape': {}, }}", dtype == "u1" ? "|" : "<", dtype, shape_text);
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string npy("\x93NUMPY\x01\x00", 8);
  wr16(npy, static_cast<uint16_t>(header.size()));
  npy += header;
  npy.append(static_cast<const char*>(data), bytes);
  entries_.push_back({name + ".npy", std::move(npy)});
}

void NpzWriter::write(const std::string& path) const {
  std::string out, cd;
  for (const auto& e : entries_) {
    if (e.bytes.size() >= 0xFFFFFFFFu) throw std::runtime_error("npz member over 4 GiB is not supported by the writer");
    const uint32_t crc = crc32(reinterpret_cast<const uint8_t*>(e.bytes.data()), e.bytes.size());
    const uint32_t offset = static_cast<uint32_t>(out.size());
    const auto size = static_cast<uint32_t>(e.bytes.size());
    auto common = [&](std::string& s) {
      wr16(s, 20), wr16(s, 0), wr16(s, 0), wr16(s, 0), wr16(s, 0x21);  // version, flags, stored, time, date
      wr32(s, crc), wr32(s, size), wr32(s, size);
      wr16(s, static_cast<uint16_t>(e.name.size())), wr16(s, 0);
    };
    wr32(out, 0x04034b50);
    common(out);
    out += e.name;
    out += e.bytes;
    wr32(cd, 0x02014b50);
    wr16(cd, 20);
    common(cd);
    wr16(cd, 0), wr16(cd, 0), wr16(cd, 0), wr32(cd, 0), wr32(cd, offset);
    cd += e.name;
  }
  const auto cd_at = static_cast<uint32_t>(out.size());
  out += cd;
  wr32(out, 0x06054b50), wr16(out, 0), wr16(out, 0);
  wr16(out, static_cast<uint16_t>(entries_.size())), wr16(out, static_cast<uint16_t>(entries_.size()));
  wr32(out, static_cast<uint32_t>(cd.size())), wr32(out, cd_at), wr16(out, 0);
  write_file_atomically(path, out);
}

}  // namespace moesim

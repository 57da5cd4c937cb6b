// Stand-in for the part of ankerl::unordered_dense that Arbor 0.12 uses
// (arbor/label_resolution.hpp), written for arbor_pycat's offline MPI build
// of Arbor (scripts/build_arbor_mpi.py); the original library is in no
// package registry. It is not that library: `map` is std::unordered_map with
// ankerl's extract(key), and the byte hash is a plain 64-bit mix. Arbor only
// looks keys up in these maps (it never iterates over them), so neither the
// container nor the hash changes what a simulation computes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>

namespace ankerl::unordered_dense {

namespace detail::wyhash {

inline std::uint64_t mix(std::uint64_t x) noexcept {
    // The finaliser of splitmix64: every input bit affects every output bit.
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

// A 64-bit hash of `len` bytes at `data`.
inline std::uint64_t hash(const void* data, std::size_t len) noexcept {
    const auto* bytes = static_cast<const unsigned char*>(data);
    std::uint64_t h = mix(0x9e3779b97f4a7c15ULL ^ static_cast<std::uint64_t>(len));
    std::size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, bytes + i, 8);
        h = mix(h ^ word) + 0x9e3779b97f4a7c15ULL;
    }
    if (i < len) {
        std::uint64_t word = 0;
        std::memcpy(&word, bytes + i, len - i);
        h = mix(h ^ word) + 0x9e3779b97f4a7c15ULL;
    }
    return mix(h);
}

} // namespace detail::wyhash

template <class Key, class T, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>>
class map: public std::unordered_map<Key, T, Hash, KeyEqual> {
    using base = std::unordered_map<Key, T, Hash, KeyEqual>;

public:
    using base::base;
    using base::extract;

    // As ankerl's map: remove the entry of `key` and return it, if any.
    std::optional<std::pair<Key, T>> extract(const Key& key) {
        auto node = base::extract(key);
        if (node.empty()) return std::nullopt;
        return std::pair<Key, T>(std::move(node.key()), std::move(node.mapped()));
    }
};

} // namespace ankerl::unordered_dense

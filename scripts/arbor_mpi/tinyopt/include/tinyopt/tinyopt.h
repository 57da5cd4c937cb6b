// Stand-in for the part of the tinyopt command-line library that Arbor 0.12
// uses (modcc/modcc.cpp and lmorpho/lmorpho.cpp), written for arbor_pycat's
// offline MPI build of Arbor (scripts/build_arbor_mpi.py); the original
// library is in no package registry. It is not that library, only the
// interface those two programs call:
//
//   to::option options[] = {{sink, keys and flags...}, ...};  to::run(options, argc, argv)
//     sinks: a variable (parsed with operator>>, std::string taken whole),
//     to::push_back(vector), to::set(bool), to::action(f[, parser]);
//     flags: to::flag (takes no value), to::exit (run() returns false after it);
//     an option without keys takes the positional arguments.
//   to::parse<T>(arg, [parser,] keys...) -> to::maybe<T>, and `x << maybe`;
//   to::keywords(table), to::usage, to::usage_error, to::option_error.
#pragma once

#include <cstring>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace to {

struct option_error: std::runtime_error {
    explicit option_error(const std::string& message): std::runtime_error(message) {}
    option_error(const std::string& message, const std::string& argument):
        std::runtime_error(message + ": " + argument), argument(argument) {}
    std::string argument;
};

namespace impl {
inline const char* program_name(const char* argv0) {
    if (!argv0) return "";
    const char* slash = std::strrchr(argv0, '/');
    return slash ? slash + 1 : argv0;
}
} // namespace impl

inline void usage(const char* argv0, const std::string& text) {
    std::cout << "Usage: " << impl::program_name(argv0) << " " << text << "\n";
}

inline void usage_error(const char* argv0, const std::string& text, const std::string& message) {
    const char* name = impl::program_name(argv0);
    std::cerr << name << ": " << message << "\n"
              << "Usage: " << name << " " << text << "\n";
}

// The value of an argument: std::string as it is, anything else through
// operator>>, which must consume the whole text.
template <typename V>
struct default_parser {
    std::optional<V> operator()(const char* text) const {
        if constexpr (std::is_same_v<V, std::string>) {
            return std::string(text);
        }
        else {
            std::istringstream in(text);
            V value{};
            if (!(in >> value)) return std::nullopt;
            char rest;
            if (in >> rest) return std::nullopt;
            return value;
        }
    }
};

// Maps the keys of a table to its values.
template <typename V>
struct keyword_parser {
    std::vector<std::pair<std::string, V>> table;
    std::optional<V> operator()(const char* text) const {
        for (const auto& [key, value]: table) {
            if (key == text) return value;
        }
        return std::nullopt;
    }
};

// `table`: any range of pairs (key, value), e.g. a std::map or an array of std::pair.
template <typename Table>
auto keywords(const Table& table) {
    using value_type = std::decay_t<decltype(std::begin(table)->second)>;
    keyword_parser<value_type> parser;
    for (const auto& entry: table) parser.table.emplace_back(std::string(entry.first), entry.second);
    return parser;
}

// Receives an option's argument (nullptr for a flag); false: the argument is invalid.
class sink {
public:
    using function = std::function<bool(const char*)>;

    static sink from(function f) { return sink(std::move(f), 0); }

    // A variable: assigned the parsed argument.
    template <typename V, typename = std::enable_if_t<!std::is_same_v<std::remove_cv_t<V>, sink>>>
    sink(V& target):
        fn_([&target](const char* text) {
            if (!text) return false;
            auto value = default_parser<V>{}(text);
            if (!value) return false;
            target = std::move(*value);
            return true;
        })
    {}

    bool operator()(const char* text) const { return fn_(text); }

private:
    sink(function f, int): fn_(std::move(f)) {}
    function fn_;
};

template <typename V>
sink push_back(std::vector<V>& target) {
    return sink::from([&target](const char* text) {
        if (!text) return false;
        auto value = default_parser<V>{}(text);
        if (!value) return false;
        target.push_back(std::move(*value));
        return true;
    });
}

// For a flag: sets `target` to `value`.
template <typename V, typename X>
sink set(V& target, X value) {
    return sink::from([&target, value](const char*) { target = value; return true; });
}

inline sink set(bool& target) { return set(target, true); }

// For a flag: calls f(). With a parser: calls f(parsed argument).
template <typename F>
sink action(F f) {
    return sink::from([f](const char*) { f(); return true; });
}

template <typename F, typename P>
sink action(F f, P parser) {
    return sink::from([f, parser](const char* text) {
        if (!text) return false;
        auto value = parser(text);
        if (!value) return false;
        f(std::move(*value));
        return true;
    });
}

enum option_flag: unsigned { flag = 1u, exit = 2u };

struct option {
    template <typename... Rest>
    option(sink s, Rest&&... rest): target(std::move(s)) {
        (add(std::forward<Rest>(rest)), ...);
    }

    sink target;
    std::vector<std::string> keys;
    bool is_flag = false;
    bool is_exit = false;

private:
    void add(option_flag f) {
        if (f & flag) is_flag = true;
        if (f & exit) is_exit = true;
    }
    void add(const char* key) { keys.emplace_back(key); }
    void add(const std::string& key) { keys.push_back(key); }
};

namespace impl {
// If `arg` is `key`, or `key=value` for a long key: the value part (or "" for
// an exact match, flagged by `exact`).
inline bool match(const char* arg, const std::string& key, const char*& value, bool& exact) {
    if (key == arg) {
        exact = true;
        value = nullptr;
        return true;
    }
    if (key.size() > 2 && key.compare(0, 2, "--") == 0 &&
        std::strncmp(arg, key.c_str(), key.size()) == 0 && arg[key.size()] == '=') {
        exact = false;
        value = arg + key.size() + 1;
        return true;
    }
    return false;
}
} // namespace impl

// Parses the null-terminated argument list `argv` (its program name already
// skipped: modcc passes argv+1; `argc` is not needed). Returns false when an
// option flagged to::exit was given. Throws option_error for an unknown
// option, a missing or invalid argument.
template <typename Options>
bool run(Options& options, int /*argc*/, char** argv) {
    bool only_positional = false;
    for (char** arg = argv; arg && *arg;) {
        const char* text = *arg;
        if (!only_positional && std::strcmp(text, "--") == 0) {
            only_positional = true;
            ++arg;
            continue;
        }
        option* found = nullptr;
        const char* value = nullptr;
        bool exact = false;
        if (!only_positional) {
            for (auto& o: options) {
                for (const auto& key: o.keys) {
                    if (impl::match(text, key, value, exact)) {
                        found = &o;
                        break;
                    }
                }
                if (found) break;
            }
        }
        if (found) {
            if (found->is_flag) {
                if (!exact) throw option_error("option takes no argument", text);
                value = nullptr;
                ++arg;
            }
            else if (exact) {
                if (!arg[1]) throw option_error("missing argument", text);
                value = arg[1];
                arg += 2;
            }
            else {
                ++arg;
            }
            if (!found->target(value)) throw option_error("invalid argument", value ? value : text);
            if (found->is_exit) return false;
            continue;
        }
        if (!only_positional && text[0] == '-' && text[1] != '\0') {
            throw option_error("unrecognized option", text);
        }
        option* positional = nullptr;
        for (auto& o: options) {
            if (o.keys.empty()) {
                positional = &o;
                break;
            }
        }
        if (!positional) throw option_error("unexpected argument", text);
        if (!positional->target(text)) throw option_error("invalid argument", text);
        ++arg;
    }
    return true;
}

// An optional value that assigns itself: `x << parse<T>(...)` sets x if a
// value was parsed, and yields the maybe.
template <typename V>
class maybe {
public:
    maybe() = default;
    maybe(V value): value_(std::move(value)) {}
    bool has_value() const { return value_.has_value(); }
    explicit operator bool() const { return has_value(); }
    const V& value() const { return value_.value(); }
    const V& operator*() const { return *value_; }

private:
    std::optional<V> value_;
};

template <typename X, typename V>
maybe<V> operator<<(X& target, const maybe<V>& m) {
    if (m.has_value()) target = *m;
    return m;
}

namespace impl {
template <typename V, typename P>
maybe<V> parse_value(char**& arg, const P& parser, const std::vector<std::string>& keys) {
    if (!arg || !*arg) return {};
    for (const auto& key: keys) {
        const char* value = nullptr;
        bool exact = false;
        if (!match(*arg, key, value, exact)) continue;
        const char* given = *arg;
        if (exact) {
            if (!arg[1]) throw option_error("missing argument", given);
            value = arg[1];
            arg += 2;
        }
        else {
            ++arg;
        }
        auto parsed = parser(value);
        if (!parsed) throw option_error("invalid argument", value);
        return maybe<V>(std::move(*parsed));
    }
    return {};
}

inline maybe<bool> parse_flag(char**& arg, const std::vector<std::string>& keys) {
    if (!arg || !*arg) return {};
    for (const auto& key: keys) {
        if (key == *arg) {
            ++arg;
            return maybe<bool>(true);
        }
    }
    return {};
}
} // namespace impl

// If *arg is one of the keys: consume it and its value (the next argument,
// or the part after '=' of --key=value), advance arg, and return the value
// parsed by `parser` (or by default_parser<V>). Without V: a flag, which
// yields true. Otherwise return nothing and leave arg as it is.
template <typename V = void, typename First, typename... Rest>
auto parse(char**& arg, const First& first, const Rest&... rest) {
    if constexpr (std::is_convertible_v<const First&, const char*>) {
        std::vector<std::string> keys{std::string(first), std::string(rest)...};
        if constexpr (std::is_void_v<V>) {
            return impl::parse_flag(arg, keys);
        }
        else {
            return impl::parse_value<V>(arg, default_parser<V>{}, keys);
        }
    }
    else {
        static_assert(!std::is_void_v<V>, "to::parse with a parser needs the value type");
        std::vector<std::string> keys{std::string(rest)...};
        return impl::parse_value<V>(arg, first, keys);
    }
}

} // namespace to

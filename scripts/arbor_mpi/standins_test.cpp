// Test of the stand-ins (tinyopt.h, unordered_dense.h) with the calls Arbor's
// modcc and lmorpho make. scripts/build_arbor_mpi.py compiles and runs it
// before it builds Arbor; it exits non-zero at the first failed check.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <ankerl/unordered_dense.h>
#include <tinyopt/tinyopt.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            std::cerr << "standins_test: failed: " #cond " (line " << __LINE__ << ")\n"; \
            std::exit(1); \
        } \
    } while (0)

// As modcc: a map of keywords, a value type read with operator>>.
enum class kind { cpu, gpu };
std::unordered_map<std::string, kind> kind_map = {{"cpu", kind::cpu}, {"gpu", kind::gpu}};

struct width_spec { int width = 0; };
std::istream& operator>>(std::istream& in, width_spec& s) {
    std::string text;
    in >> text;
    if (text.size() < 2 || text[0] != 'x') {
        in.setstate(std::ios::failbit);
        return in;
    }
    s.width = std::stoi(text.substr(1));
    return in;
}

struct modcc_options {
    std::vector<std::string> files, raw;
    std::string out;
    bool verbose = false;
    width_spec simd;
    std::set<kind> kinds;
    bool helped = false;
    bool ran = false;
};

std::vector<char*> make_argv(const char* program, std::vector<const char*> args) {
    args.insert(args.begin(), program);
    args.push_back(nullptr);
    std::vector<char*> argv;
    for (auto a: args) argv.push_back(const_cast<char*>(a));
    return argv;
}

modcc_options modcc_like(std::vector<const char*> args) {
    modcc_options opt;
    auto argv_store = make_argv("modcc", args);
    char** argv = argv_store.data();
    int argc = static_cast<int>(argv_store.size()) - 1;
    auto help = [&opt] { opt.helped = true; };
    auto add = [&opt](kind k) { opt.kinds.insert(k); };
    to::option options[] = {
        {to::push_back(opt.files)},
        {opt.out, "-o", "--output-dir"},
        {to::set(opt.verbose), to::flag, "-V", "--verbose"},
        {opt.simd, "-S", "--simd-abi"},
        {to::action(add, to::keywords(kind_map)), "-t", "--target"},
        {to::push_back(opt.raw), "-r", "--raw"},
        {to::action(help), to::flag, to::exit, "-h", "--help"},
    };
    opt.ran = to::run(options, argc, argv + 1);
    return opt;
}

struct model { int id; };
model model_one{1}, model_two{2};

struct lmorpho_options {
    int count = 1;
    std::optional<unsigned> seed = 0;
    std::optional<std::string> acc;
    bool help = false;
    const model* chosen = nullptr;
};

lmorpho_options lmorpho_like(std::vector<const char*> args) {
    lmorpho_options opt;
    auto argv_store = make_argv("lmorpho", args);
    char** argv = argv_store.data();
    std::pair<const char*, const model*> models[] = {{"one", &model_one}, {"two", &model_two}};
    for (auto arg = argv + 1; *arg;) {
        bool ok = false;
        ok |= (opt.count << to::parse<int>(arg, "-n", "--count")).has_value();
        ok |= (opt.seed << to::parse<int>(arg, "--s", "--seed")).has_value();
        ok |= (opt.acc << to::parse<std::string>(arg, "-f", "--acc")).has_value();
        const model* m;
        if ((m << to::parse<const model*>(arg, to::keywords(models), "-m", "--model")).has_value()) {
            opt.chosen = m;
            ok = true;
        }
        ok |= (opt.help << to::parse(arg, "-h", "--help")).has_value();
        if (!ok) throw to::option_error("unrecognized argument", *arg);
    }
    return opt;
}

template <typename F>
std::string error_of(F f) {
    try {
        f();
    }
    catch (to::option_error& e) {
        return e.what();
    }
    return "";
}

int main() {
    // modcc's options
    auto o = modcc_like({"a.mod", "-t", "cpu", "--output-dir", "out dir", "-V", "b.mod",
                         "-S", "x4", "-r", "raw1", "--target=gpu"});
    CHECK(o.ran);
    CHECK((o.files == std::vector<std::string>{"a.mod", "b.mod"}));
    CHECK(o.out == "out dir");
    CHECK(o.verbose);
    CHECK(o.simd.width == 4);
    CHECK(o.kinds.size() == 2);
    CHECK((o.raw == std::vector<std::string>{"raw1"}));
    auto h = modcc_like({"-h", "a.mod"});
    CHECK(h.helped && !h.ran && h.files.empty());
    auto plain = modcc_like({"--", "-odd.mod"});
    CHECK((plain.files == std::vector<std::string>{"-odd.mod"}) && !plain.verbose);
    CHECK(error_of([] { modcc_like({"-N", "x"}); }) == "unrecognized option: -N");
    CHECK(error_of([] { modcc_like({"-o"}); }) == "missing argument: -o");
    CHECK(error_of([] { modcc_like({"-t", "tpu"}); }) == "invalid argument: tpu");
    CHECK(error_of([] { modcc_like({"-S", "4x"}); }) == "invalid argument: 4x");
    CHECK(error_of([] { modcc_like({"--verbose=1"}); }) == "option takes no argument: --verbose=1");

    // lmorpho's parse loop
    auto l = lmorpho_like({"--count", "3", "--seed=7", "-m", "two", "--acc", "f%.acc"});
    CHECK(l.count == 3 && l.seed && *l.seed == 7u && l.acc && *l.acc == "f%.acc");
    CHECK(l.chosen == &model_two && !l.help);
    auto lh = lmorpho_like({"-h"});
    CHECK(lh.help && lh.count == 1 && !lh.acc && !lh.chosen);
    CHECK(error_of([] { lmorpho_like({"--count", "x"}); }) == "invalid argument: x");
    CHECK(error_of([] { lmorpho_like({"--bogus"}); }) == "unrecognized argument: --bogus");
    CHECK(error_of([] { lmorpho_like({"-m", "three"}); }) == "invalid argument: three");
    CHECK(error_of([] { lmorpho_like({"--count"}); }) == "missing argument: --count");

    // unordered_dense: the map operations of arbor/label_resolution.cpp
    ankerl::unordered_dense::map<int, std::string> m;
    m.reserve(4);
    m[1] = "a";
    m[2] = "b";
    CHECK(m.contains(1) && m.count(2) == 1 && m.find(3) == m.end());
    auto e = m.extract(1);
    CHECK(e && e->first == 1 && e->second == "a" && !m.contains(1) && m.size() == 1);
    CHECK(!m.extract(5));
    m.clear();
    CHECK(m.empty());

    using ankerl::unordered_dense::detail::wyhash::hash;
    std::uint64_t k1[2] = {1, 2}, k2[2] = {2, 1}, k3[2] = {1, 2};
    CHECK(hash(k1, sizeof k1) == hash(k3, sizeof k3));
    CHECK(hash(k1, sizeof k1) != hash(k2, sizeof k2));
    CHECK(hash(k1, 8) != hash(k1, 16));
    const char bytes[] = "abcdefghijk";
    CHECK(hash(bytes, 11) != hash(bytes, 10));
    std::cout << "standins_test: ok\n";
    return 0;
}

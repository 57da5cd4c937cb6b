// The bridge between Arbor's mechanism ABI and arbor_pycat.
//
// This shared object is compiled once, when the package is built. arbor_pycat
// copies it to a fresh file (dlopen caches by path), fills slots of the
// tables below through the pycat_* functions (ctypes) and hands the file to
// arbor.load_catalogue(). One copy serves many catalogues: each build() takes
// the next unused slots of the current copy (its "window", which
// get_catalogue() returns), and only when they run out is a new copy made, so
// that a process can build many catalogues at a small, bounded cost in
// memory maps and memory. A slot is never reused: Arbor keeps calling it.
//
// The shim knows nothing about a mechanism's fields: it stores the
// arb_mechanism_type that Python built, and forwards each interface call to
// the callback Python registered for that slot (a Python callable, called
// through the C API, or a numba cfunc). A callback returns 0 on success; on
// failure it returns non-zero and the trampoline throws, which Arbor turns
// into a Python exception in sim.run().
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arbor/mechanism_abi.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

// Native (numba) callbacks: (ppack, event stream or nullptr, layout flags,
// the pieces of the instances or nullptr, both see layout(), and the raise
// record, see raise_record).
// A return of 0 means success, <0 an error message set by pycat_set_error,
// >0 an index into the slot's table of error messages in the low 8 bits and,
// above them, what was assigned for a shape error (see describe_value()).
using pycat_callback = std::int64_t (*)(arb_mechanism_ppack*, arb_deliverable_event_stream*, std::uint64_t,
                                        const arb_index_type*, std::int64_t*);

// The contract with arbor_pycat's Python side (abi/contract.py), reported by
// pycat_layout() and pycat_method_name() and checked when a copy loads.
constexpr int max_mechanisms = 1024;   // slots per copy, shared by its catalogues
constexpr int n_methods = 6;  // init, compute_currents, apply_events, advance_state, write_ions, post_event
constexpr int max_messages = 64;       // message codes 1 .. max_messages - 1
constexpr int status_code_bits = 8;    // a status > 0: code in the low bits, detail above
constexpr int callback_arguments = 5;  // of a native callback: see pycat_callback
constexpr int raise_values = 8;        // numbers a computed raise message records
constexpr int record_words = 1 + 2 * raise_values;   // see raise_record

struct slot {
    arb_mechanism_type type{};
    pycat_callback callbacks[n_methods] = {};
    PyObject* python_callbacks[n_methods] = {};  // python backend: called through the C API
    std::atomic<std::uint64_t> generation{0};  // bumped by every init: a new simulation invalidates caches
    const char* messages[max_messages] = {};
    PyObject* formatter = nullptr;   // f(code, record words) -> message of a computed raise, or None
    arb_mechanism_interface interface{};
};

slot slots[max_mechanisms];
arb_mechanism catalogue[max_mechanisms];
bool catalogue_filled = false;
int window_first = 0, window_count = 0;   // the slots get_catalogue() returns

thread_local std::string error_message;

// What a native callback records before it returns the code of a raise whose
// message is computed (an f-string): the count n of numbers, then n pairs of
// (kind, 64 bits: an int64, a double's bits or a bool), formatted by the
// slot's formatter in Python (see fail()).
thread_local std::int64_t raise_record[record_words];

// A cheap identity for a ppack: its address and every pointer Arbor may
// reallocate between simulations. Python caches its numpy views under it.
std::uint64_t fingerprint(const slot& s, const arb_mechanism_ppack* pp) {
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&h](std::uint64_t x) { h = (h ^ x) * 1099511628211ull; h ^= h >> 29; };
    mix(s.generation.load(std::memory_order_relaxed));
    mix((std::uintptr_t)pp);
    mix(pp->width);
    mix((std::uintptr_t)pp->vec_v);
    mix((std::uintptr_t)pp->vec_i);
    mix((std::uintptr_t)pp->vec_g);
    mix((std::uintptr_t)pp->node_index);
    mix((std::uintptr_t)pp->peer_index);
    mix((std::uintptr_t)pp->weight);
    mix((std::uintptr_t)pp->multiplicity);
    mix((std::uintptr_t)pp->vec_ci);
    mix((std::uintptr_t)pp->time_since_spike);
    mix((std::uintptr_t)pp->globals);
    for (arb_size_type k = 0; k < s.type.n_parameters; ++k) mix((std::uintptr_t)pp->parameters[k]);
    for (arb_size_type k = 0; k < s.type.n_state_vars; ++k) mix((std::uintptr_t)pp->state_vars[k]);
    for (arb_size_type k = 0; k < s.type.n_ions; ++k) {
        const auto& ion = pp->ion_states[k];
        mix((std::uintptr_t)ion.current_density);
        mix((std::uintptr_t)ion.reversal_potential);
        mix((std::uintptr_t)ion.internal_concentration);
        mix((std::uintptr_t)ion.external_concentration);
        mix((std::uintptr_t)ion.diffusive_concentration);
        mix((std::uintptr_t)ion.index);
    }
    return h;
}

// Layout flags for native callbacks: which index arrays are ranges
// (first, first + 1, ...), so that compiled kernels take their contiguous,
// vectorised loops without scanning the indices on every call.
// Bit 0: node_index; bit 1: peer_index; bit 2 + k: ion k's index (the
// first max_layout_ions ions; compiled code checks any further ones itself).
// (Mirrored in abi.py, checked through pycat_layout.)
constexpr int layout_node_bit = 0, layout_peer_bit = 1, layout_first_ion_bit = 2;
constexpr int max_layout_ions = 62;

bool is_range(const arb_index_type* index, arb_size_type n) {
    if (!index || n == 0) return true;
    const arb_index_type first = index[0];
    bool ok = true;
    for (arb_size_type k = 0; k < n; ++k) ok &= index[k] == first + (arb_index_type)k;
    return ok;
}

std::uint64_t compute_layout(const slot& s, const arb_mechanism_ppack* pp) {
    std::uint64_t flags = 0;
    if (is_range(pp->node_index, pp->width)) flags |= 1ull << layout_node_bit;
    if (is_range(pp->peer_index, pp->width)) flags |= 1ull << layout_peer_bit;
    for (arb_size_type k = 0; k < s.type.n_ions && k < max_layout_ions; ++k) {
        if (is_range(pp->ion_states[k].index, pp->width)) flags |= 1ull << (layout_first_ion_bit + k);
    }
    return flags;
}

// The pieces of a mechanism's instances: the runs over which every index array
// (node_index, peer_index, each ion's index) goes up by one, as
// [n, end_1, ..., end_n] (end_n = width), so that compiled code loops over
// each run contiguously without scanning the indices at every call; nullptr
// when every index is a range (one piece).
bool breaks_at(const arb_index_type* index, arb_size_type k) {
    return index && index[k] != index[k - 1] + 1;
}

std::vector<arb_index_type> compute_pieces(const slot& s, const arb_mechanism_ppack* pp, std::uint64_t flags) {
    std::uint64_t all = (1ull << layout_node_bit) | (pp->peer_index ? 1ull << layout_peer_bit : 0);
    const arb_size_type n_ions = s.type.n_ions;
    for (arb_size_type k = 0; k < n_ions && k < max_layout_ions; ++k) all |= 1ull << (layout_first_ion_bit + k);
    if ((flags & all) == all && n_ions <= max_layout_ions) return {};   // one piece
    std::vector<arb_index_type> ends{0};
    for (arb_size_type k = 1; k < pp->width; ++k) {
        bool split = breaks_at(pp->node_index, k) || breaks_at(pp->peer_index, k);
        for (arb_size_type j = 0; j < n_ions && !split; ++j) split = breaks_at(pp->ion_states[j].index, k);
        if (split) ends.push_back((arb_index_type)k);
    }
    ends.push_back((arb_index_type)pp->width);
    ends[0] = (arb_index_type)(ends.size() - 1);
    return ends;
}

// Index arrays are allocated and filled when Arbor instantiates a mechanism
// and do not change until the next instantiation, which calls init and so
// bumps the slot's generation. The layout flags and pieces are therefore
// worked out once per ppack and kept per thread (no locks; each thread only
// reads its own) under (slot, ppack), checked against (generation,
// node_index, width) at every call: a network has one ppack per mechanism and
// cell group, thousands of them, and every live one stays cached. A small
// direct-mapped table of pointers into the map saves the hash lookup.
struct layout_entry {
    const slot* s = nullptr;
    const arb_mechanism_ppack* pp = nullptr;
    const arb_index_type* node_index = nullptr;
    std::uint64_t generation = 0;
    arb_size_type width = 0;
    std::uint64_t flags = 0;
    std::vector<arb_index_type> pieces;   // empty: one piece

    bool answers(const slot& s_, const arb_mechanism_ppack* pp_, std::uint64_t generation_) const {
        return s == &s_ && pp == pp_ && node_index == pp_->node_index && generation == generation_
            && width == pp_->width;
    }
};

struct layout_key_hash {
    std::size_t operator()(const std::pair<const slot*, const arb_mechanism_ppack*>& k) const {
        return std::hash<const void*>()(k.second) ^ (std::hash<const void*>()(k.first) << 1);
    }
};

thread_local std::unordered_map<std::pair<const slot*, const arb_mechanism_ppack*>, layout_entry, layout_key_hash> layout_cache;
constexpr std::size_t layout_cache_prune = 4096;     // entries per thread before stale ones go
thread_local std::size_t layout_cache_next_prune = layout_cache_prune;
constexpr std::size_t layout_front_size = 256;       // direct-mapped pointers into layout_cache
thread_local layout_entry* layout_front[layout_front_size] = {};

// Drops the entries of ppacks whose slot was initialised since (a later
// simulation, or a dead one): they would be recomputed before any use. Keeps
// what a sweep of many simulations in one process holds bounded.
void prune_layout_cache() {
    for (auto it = layout_cache.begin(); it != layout_cache.end();) {
        if (it->second.generation != it->second.s->generation.load(std::memory_order_relaxed)) it = layout_cache.erase(it);
        else ++it;
    }
    std::fill(std::begin(layout_front), std::end(layout_front), nullptr);
    layout_cache_next_prune = std::max(layout_cache_prune, 2 * layout_cache.size());
}

const layout_entry& layout(const slot& s, const arb_mechanism_ppack* pp) {
    const std::uint64_t generation = s.generation.load(std::memory_order_relaxed);
    const std::size_t h = (((std::uintptr_t)pp >> 4) ^ ((std::uintptr_t)&s >> 6)) % layout_front_size;
    layout_entry* front = layout_front[h];
    if (front && front->answers(s, pp, generation)) return *front;
    if (layout_cache.size() >= layout_cache_next_prune) prune_layout_cache();
    layout_entry& e = layout_cache[{&s, pp}];   // references stay valid until pruned
    if (!e.answers(s, pp, generation)) {
        e.s = &s;
        e.pp = pp;
        e.node_index = pp->node_index;
        e.generation = generation;
        e.width = pp->width;
        e.flags = compute_layout(s, pp);
        e.pieces = compute_pieces(s, pp, e.flags);
    }
    layout_front[h] = &e;
    return e;
}

// The value a shape error reports: 1 + 4 size + min(ndim, 3) of what was assigned.
std::string describe_value(std::int64_t detail, arb_size_type width) {
    const std::int64_t ndim = (detail - 1) & 3, size = (detail - 1) >> 2;
    std::string what = ndim == 1 ? "an array of shape (" + std::to_string(size) + ",)"
                                 : "a " + std::string(ndim == 3 ? ">=3" : std::to_string(ndim)) + "-d array of "
                                       + std::to_string(size) + " values";
    return "got " + what + " for " + std::to_string(width) + " instances";
}

// The latest failure of a native callback (Python keeps its own), for
// arbor_pycat.last_error(): the message and when (CLOCK_MONOTONIC, ns, the
// clock of Python's time.monotonic_ns()).
std::mutex last_failure_mutex;
std::string last_failure;
std::int64_t last_failure_ns = 0;

void record_failure(const std::string& message) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    std::lock_guard<std::mutex> lock(last_failure_mutex);
    last_failure = message;
    last_failure_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
}

// The message the slot's formatter makes of the raise record for message
// ``code``; empty where it has none (a constant message) or fails.
std::string formatted(const slot& s, std::int64_t code) {
    std::string text;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject* words = PyTuple_New(record_words);
    for (int j = 0; words && j < record_words; ++j) PyTuple_SET_ITEM(words, j, PyLong_FromLongLong(raise_record[j]));
    PyObject* args[2] = {PyLong_FromLongLong(code), words};
    if (args[0] && args[1]) {
        if (PyObject* result = PyObject_Vectorcall(s.formatter, args, 2, nullptr)) {
            Py_ssize_t n = 0;
            const char* utf8 = PyUnicode_Check(result) ? PyUnicode_AsUTF8AndSize(result, &n) : nullptr;
            if (utf8) text.assign(utf8, n);
            Py_DECREF(result);
        }
    }
    for (PyObject* a: args) Py_XDECREF(a);
    PyErr_Clear();   // the formatter guards against errors; never leave one set
    PyGILState_Release(gil);
    return text;
}

[[noreturn]] void fail(const slot& s, std::int64_t rc, const arb_mechanism_ppack* pp, bool native) {
    std::string message;
    const std::int64_t code = rc > 0 ? rc & ((1 << status_code_bits) - 1) : rc,
                       detail = rc > 0 ? rc >> status_code_bits : 0;
    if (native && code > 0 && code < max_messages && detail == 0 && s.formatter
            && !(message = formatted(s, code)).empty()) {
        // a computed message
    }
    else if (code > 0 && code < max_messages && s.messages[code]) {
        message = s.messages[code];
        if (detail > 0) message += ": " + describe_value(detail, pp->width);
    }
    else if (code < 0 && !error_message.empty()) message = std::exchange(error_message, {});
    else message = std::string("arbor_pycat: mechanism '") + s.type.name + "' failed (error code " + std::to_string(rc) + ")";
    if (native) record_failure(message);
    throw std::runtime_error(message);
}

// Ctrl-C. Python's own SIGINT handler only marks the signal, and Python acts
// on it in the main thread when that thread next runs Python code: never,
// while Arbor's threads run a simulation (and never at all with compiled
// callbacks). So the shim chains its own handler in front of Python's: it sets
// a flag that every trampoline checks (one relaxed load), and each that sees
// it throws, on every thread, which stops sim.run(). Python's handler
// (arbor_pycat wraps it) clears the flag when Python handles the
// KeyboardInterrupt outside a mechanism's method (after sim.run() returned,
// or with no simulation running), so a Ctrl-C does not stop the next run. All copies of the shim
// share the first copy's flag (pycat_share_interrupt).
std::atomic<int> own_interrupt{0};
std::atomic<int>* interrupt_flag = &own_interrupt;
struct sigaction previous_sigint;

const char* const method_names[n_methods] = {"init_mechanism", "compute_currents", "apply_events",
                                             "advance_state", "write_ions", "post_event"};

void on_sigint(int signal, siginfo_t* info, void* context) {
    interrupt_flag->store(1, std::memory_order_relaxed);
    if (previous_sigint.sa_flags & SA_SIGINFO) {
        if (previous_sigint.sa_sigaction) previous_sigint.sa_sigaction(signal, info, context);
    }
    else if (previous_sigint.sa_handler != SIG_DFL && previous_sigint.sa_handler != SIG_IGN) {
        previous_sigint.sa_handler(signal);
    }
}

std::string interruption_message(const slot& s, int M) {
    return std::string("arbor_pycat: KeyboardInterrupt (Ctrl-C): the simulation was interrupted while "
                       "mechanism '") + s.type.name + "' ran " + method_names[M];
}

[[noreturn]] void interrupted(const slot& s, int M) { throw std::runtime_error(interruption_message(s, M)); }

// Call a Python callable f(ppack address, events address, fingerprint) -> int.
// Cheaper than a ctypes callback: no argument conversion layer.
int call_python(const slot& s, int M, PyObject* f, arb_mechanism_ppack* pp, arb_deliverable_event_stream* events, std::uint64_t key) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject* args[3] = {PyLong_FromVoidPtr(pp), PyLong_FromVoidPtr(events), PyLong_FromUnsignedLongLong(key)};
    int rc = -1;
    if (args[0] && args[1] && args[2]) {
        PyObject* result = PyObject_Vectorcall(f, args, 3, nullptr);
        if (result) {
            rc = (int)PyLong_AsLong(result);
            Py_DECREF(result);
        }
    }
    for (PyObject* a: args) Py_XDECREF(a);
    if (PyErr_Occurred()) {   // the callable itself guards against this; never leave an error set
        if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            // Ctrl-C reached Python between the call and the method: stop the
            // run as the flag does, and raise KeyboardInterrupt again afterwards.
            error_message = interruption_message(s, M);
            interrupt_flag->store(1, std::memory_order_relaxed);
            PyErr_Clear();
            PyErr_SetInterrupt();
        }
        else if (error_message.empty()) error_message = "arbor_pycat: a Python callback failed unexpectedly";
        PyErr_Clear();
        rc = -1;
    }
    PyGILState_Release(gil);
    return rc;
}

// Not inlined into the per-slot trampolines: they stay a few bytes each.
[[gnu::noinline]] void dispatch(slot& s, int M, arb_mechanism_ppack* pp, arb_deliverable_event_stream* events) {
    if (interrupt_flag->load(std::memory_order_relaxed)) interrupted(s, M);
    if (M == 0) s.generation.fetch_add(1, std::memory_order_relaxed);
    if (PyObject* py = s.python_callbacks[M]) {
        int rc = call_python(s, M, py, pp, events, fingerprint(s, pp));
        if (rc != 0) fail(s, rc, pp, false);
        return;
    }
    pycat_callback f = s.callbacks[M];
    if (!f) return;
    const layout_entry& l = layout(s, pp);
    std::int64_t rc = f(pp, events, l.flags, l.pieces.empty() ? nullptr : l.pieces.data(), raise_record);
    if (rc != 0) fail(s, rc, pp, true);
}

template <int K, int M>
void call(arb_mechanism_ppack* pp, arb_deliverable_event_stream* events) { dispatch(slots[K], M, pp, events); }

template <int K> void init_mechanism(arb_mechanism_ppack* pp) { call<K, 0>(pp, nullptr); }
template <int K> void compute_currents(arb_mechanism_ppack* pp) { call<K, 1>(pp, nullptr); }
template <int K> void apply_events(arb_mechanism_ppack* pp, arb_deliverable_event_stream* ev) { call<K, 2>(pp, ev); }
template <int K> void advance_state(arb_mechanism_ppack* pp) { call<K, 3>(pp, nullptr); }
template <int K> void write_ions(arb_mechanism_ppack* pp) { call<K, 4>(pp, nullptr); }
template <int K> void post_event(arb_mechanism_ppack* pp) { call<K, 5>(pp, nullptr); }

void noop(arb_mechanism_ppack*) {}
void noop_events(arb_mechanism_ppack*, arb_deliverable_event_stream*) {}

template <int K> arb_mechanism_type get_type() { return slots[K].type; }

// Unused slots are plain no-ops: Arbor calls write_ions of every mechanism
// every step.
template <int K> arb_mechanism_interface* get_interface();

[[gnu::noinline]] arb_mechanism_interface* fill_interface(slot& s, void (*init)(arb_mechanism_ppack*),
        void (*currents)(arb_mechanism_ppack*), void (*events)(arb_mechanism_ppack*, arb_deliverable_event_stream*),
        void (*advance)(arb_mechanism_ppack*), void (*ions)(arb_mechanism_ppack*), void (*post)(arb_mechanism_ppack*)) {
    arb_mechanism_interface& i = s.interface;
    i.backend = arb_backend_kind_cpu;
    i.partition_width = 1;
    i.alignment = 64;   // bytes: cache-line aligned arrays for vectorised kernels
    auto set = [&s](int m) { return s.callbacks[m] || s.python_callbacks[m]; };
    i.init_mechanism   = init;   // always: it bumps the generation that caches depend on
    i.compute_currents = set(1) ? currents : noop;
    i.apply_events     = set(2) ? events   : noop_events;
    i.advance_state    = set(3) ? advance  : noop;
    i.write_ions       = set(4) ? ions     : noop;
    i.post_event       = set(5) ? post     : noop;
    return &i;
}

template <int K> arb_mechanism_interface* get_interface() {
    return fill_interface(slots[K], init_mechanism<K>, compute_currents<K>, apply_events<K>,
                          advance_state<K>, write_ions<K>, post_event<K>);
}

// Arbor calls i_gpu() unconditionally: it must be a function returning null.
arb_mechanism_interface* no_gpu_interface() { return nullptr; }

template <int... K>
void fill_catalogue(std::integer_sequence<int, K...>) {
    ((catalogue[K] = arb_mechanism{get_type<K>, get_interface<K>, no_gpu_interface}), ...);
}

}  // namespace

extern "C" {

[[gnu::visibility("default")]] int pycat_max_mechanisms() { return max_mechanisms; }
[[gnu::visibility("default")]] unsigned long pycat_abi_version() { return ARB_MECH_ABI_VERSION; }
[[gnu::visibility("default")]] int pycat_abi_version_minor() { return ARB_MECH_ABI_VERSION_MINOR; }
[[gnu::visibility("default")]] int pycat_abi_version_major() { return ARB_MECH_ABI_VERSION_MAJOR; }

// Sizes and offsets, so that Python can check its mirror of the ABI layout.
[[gnu::visibility("default")]] unsigned long pycat_layout(int what) {
    switch (what) {
        case 0: return sizeof(arb_mechanism_ppack);
        case 1: return offsetof(arb_mechanism_ppack, dt);
        case 2: return offsetof(arb_mechanism_ppack, mechanism_id);
        case 3: return offsetof(arb_mechanism_ppack, events);
        case 4: return offsetof(arb_mechanism_ppack, parameters);
        case 5: return offsetof(arb_mechanism_ppack, random_numbers);
        case 6: return sizeof(arb_ion_state);
        case 7: return sizeof(arb_mechanism_type);
        case 8: return offsetof(arb_mechanism_type, random_variables);
        case 9: return sizeof(arb_ion_info);
        case 10: return sizeof(arb_field_info);
        case 11: return sizeof(arb_deliverable_event_data);
        case 12: return offsetof(arb_mechanism_ppack, index_constraints);
        case 13: return sizeof(arb_mechanism_interface);
        case 14: return offsetof(arb_mechanism_interface, init_mechanism);
        case 15: return sizeof(arb_mechanism);
        case 16: return layout_node_bit;
        case 17: return layout_peer_bit;
        case 18: return layout_first_ion_bit;
        case 19: return max_layout_ions;
        case 20: return n_methods;
        case 21: return max_messages;
        case 22: return status_code_bits;
        case 23: return max_mechanisms;
        case 24: return callback_arguments;
        case 25: return raise_values;
        default: return 0;
    }
}

// The name of interface method k in the shim's numbering (nullptr past the end).
[[gnu::visibility("default")]] const char* pycat_method_name(int k) {
    return k >= 0 && k < n_methods ? method_names[k] : nullptr;
}

[[gnu::visibility("default")]] int pycat_set_mechanism(int k, const arb_mechanism_type* type) {
    if (k < 0 || k >= max_mechanisms) return 1;
    slots[k].type = *type;
    // modcc leaves this to the header's macro; so do we, whatever Python sent.
    slots[k].type.abi_version = ARB_MECH_ABI_VERSION;
    return 0;
}

[[gnu::visibility("default")]] int pycat_set_callback(int k, int method, pycat_callback f) {
    if (k < 0 || k >= max_mechanisms || method < 0 || method >= n_methods) return 1;
    slots[k].callbacks[method] = f;
    return 0;
}

// The python backend: a callable f(ppack, events, fingerprint) -> int, kept
// alive by the shim for the life of the process (Arbor may call it any time).
[[gnu::visibility("default")]] int pycat_set_python_callback(int k, int method, PyObject* f) {
    if (k < 0 || k >= max_mechanisms || method < 0 || method >= n_methods) return 1;
    Py_XINCREF(f);
    slots[k].python_callbacks[method] = f;
    return 0;
}

[[gnu::visibility("default")]] int pycat_set_message(int k, int code, const char* message) {
    if (k < 0 || k >= max_mechanisms || code <= 0 || code >= max_messages) return 1;
    slots[k].messages[code] = message;
    return 0;
}

// A callable f(code, record words) -> str or None: the message of a raise
// whose text the compiled code computes (see raise_record), kept alive by
// the shim for the life of the process.
[[gnu::visibility("default")]] int pycat_set_formatter(int k, PyObject* f) {
    if (k < 0 || k >= max_mechanisms) return 1;
    Py_XINCREF(f);
    slots[k].formatter = f;
    return 0;
}

[[gnu::visibility("default")]] void pycat_set_error(const char* message) { error_message = message; }

// Copy the latest native failure's message (NUL-terminated, cut to size) and
// its time; return the message's full length (0: none yet).
[[gnu::visibility("default")]] unsigned long pycat_last_failure(char* buffer, unsigned long size, long long* when) {
    std::lock_guard<std::mutex> lock(last_failure_mutex);
    *when = last_failure_ns;
    if (size > 0) {
        const unsigned long n = std::min<unsigned long>(size - 1, last_failure.size());
        std::memcpy(buffer, last_failure.data(), n);
        buffer[n] = 0;
    }
    return last_failure.size();
}

// Put on_sigint in front of the process's SIGINT handler, unless it is there
// already or SIGINT is ignored or has its default action (then nothing
// handles Ctrl-C in Python either). Returns 1 if it is in place.
[[gnu::visibility("default")]] int pycat_chain_sigint() {
    struct sigaction current;
    if (sigaction(SIGINT, nullptr, &current) != 0) return 0;
    const bool ours = (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_sigint;
    if (ours) return 1;
    if (!(current.sa_flags & SA_SIGINFO) && (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) return 0;
    struct sigaction mine = current;
    mine.sa_sigaction = on_sigint;
    mine.sa_flags = (current.sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
    previous_sigint = current;
    if (sigaction(SIGINT, &mine, nullptr) != 0) return 0;
    return 1;
}

[[gnu::visibility("default")]] void* pycat_interrupt_flag() { return interrupt_flag; }
[[gnu::visibility("default")]] void pycat_share_interrupt(void* flag) {
    interrupt_flag = static_cast<std::atomic<int>*>(flag);
}
[[gnu::visibility("default")]] void pycat_clear_interrupt() { interrupt_flag->store(0); }
[[gnu::visibility("default")]] int pycat_interrupt_pending() { return interrupt_flag->load(); }

// The slots of the catalogue that get_catalogue() returns next.
[[gnu::visibility("default")]] int pycat_set_window(int first, int count) {
    if (first < 0 || count < 0 || first + count > max_mechanisms) return 1;
    window_first = first;
    window_count = count;
    return 0;
}

// The entry point arbor.load_catalogue() looks for.
[[gnu::visibility("default")]] const void* get_catalogue(int* n) {
    if (!catalogue_filled) {
        fill_catalogue(std::make_integer_sequence<int, max_mechanisms>{});
        catalogue_filled = true;
    }
    *n = window_count;
    return catalogue + window_first;
}

}  // extern "C"

// Writing MAPDIR: map.json, rows.h5, report.txt, chip_load.png, network_s2.py
// (docs/spinnaker2.md, "The map directory").

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "engram/core/hdf5.hpp"
#include "engram/core/png.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"

namespace engram::s2 {

namespace {

const char* kind_name(neuron_kind k) {
    switch (k) {
        case neuron_kind::lif: return "lif";
        case neuron_kind::lif_curr_exp: return "lif_curr_exp";
        case neuron_kind::lif_curr_exp_spinnaker: return "lif_curr_exp_spinnaker";
        case neuron_kind::spike_list: return "spike_list";
    }
    return "?";
}
const char* format_name(row_format f) { return f == row_format::delayed ? "delayed" : "int8"; }

std::string hex32(std::uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08x", v);
    return b;
}

std::string fmt(const char* f, double v) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

constexpr double s1615 = 32768.0;        // one unit of an s16.15 value
constexpr double u032 = 4294967296.0;    // one unit of a u0.32 value

// ---------------------------------------------------------------------------------------
// A small JSON writer: objects and arrays, escaped strings, finite numbers (NaN and
// infinities become null). Containers opened `compact` are written on one line.

class json_writer {
public:
    explicit json_writer(std::ostream& os) : os_(os) {}

    void begin_object(bool compact = false) { open('{', compact); }
    void end_object() { close('}'); }
    void begin_array(bool compact = false) { open('[', compact); }
    void end_array() { close(']'); }

    json_writer& key(const std::string& k) {
        separate();
        string(k);
        os_ << (compact_depth() ? ":" : ": ");
        after_key_ = true;
        return *this;
    }
    void value(const std::string& s) { separate(); string(s); }
    void value(const char* s) { value(std::string(s)); }
    void value(bool b) { separate(); os_ << (b ? "true" : "false"); }
    void value(double d) {
        separate();
        if (!std::isfinite(d)) { os_ << "null"; return; }
        char b[32];
        const auto r = std::to_chars(b, b + sizeof b, d);
        os_.write(b, r.ptr - b);
    }
    template <class T>
        requires std::is_integral_v<T>
    void value(T v) { separate(); os_ << +v; }
    void null() { separate(); os_ << "null"; }

    template <class T>
    void field(const std::string& k, const T& v) { key(k); value(v); }

private:
    struct level { bool first = true, compact = false; };
    std::ostream& os_;
    std::vector<level> stack_;
    bool after_key_ = false;

    bool compact_depth() const { return !stack_.empty() && stack_.back().compact; }
    void newline() {
        os_ << '\n';
        for (std::size_t i = 0; i < stack_.size(); ++i) os_ << "  ";
    }
    void separate() {
        if (after_key_) { after_key_ = false; return; }
        if (stack_.empty()) return;
        if (!stack_.back().first) os_ << (stack_.back().compact ? ", " : ",");
        stack_.back().first = false;
        if (!stack_.back().compact) newline();
    }
    void open(char c, bool compact) {
        separate();
        os_ << c;
        stack_.push_back({true, compact || compact_depth()});
    }
    void close(char c) {
        const level l = stack_.back();
        stack_.pop_back();
        if (!l.compact && !l.first) newline();
        os_ << c;
    }
    void string(const std::string& s) {
        os_ << '"';
        for (unsigned char ch : s) {
            switch (ch) {
                case '"': os_ << "\\\""; break;
                case '\\': os_ << "\\\\"; break;
                case '\n': os_ << "\\n"; break;
                case '\r': os_ << "\\r"; break;
                case '\t': os_ << "\\t"; break;
                case '\b': os_ << "\\b"; break;
                case '\f': os_ << "\\f"; break;
                default:
                    if (ch < 0x20) {
                        char b[8];
                        std::snprintf(b, sizeof b, "\\u%04x", ch);
                        os_ << b;
                    } else {
                        os_ << static_cast<char>(ch);
                    }
            }
        }
        os_ << '"';
    }
};

void write_text(const std::filesystem::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary);
    if (!f) throw io_error(p.string(), "write", "cannot create the file");
    f << text;
    f.close();
    if (!f) throw io_error(p.string(), "write", "write failed (disk full?)");
}

double pe_load(const network_map& m, const slice_map& s) {
    const double budget = m.machine.sram_budget();
    return budget > 0 ? static_cast<double>(s.sram_bytes) / budget : 0.0;
}

// ---------------------------------------------------------------------------------------
// map.json

void write_json(const network_map& m, const std::filesystem::path& path) {
    std::ostringstream os;
    json_writer j(os);
    const auto& mc = m.machine;
    j.begin_object();
    j.field("format", "engram spinnaker2 map");
    j.field("version", 1);

    j.key("machine");
    j.begin_object();
    j.field("name", mc.name);
    j.key("chips");
    j.begin_array(true);
    for (const auto& c : mc.chips) {
        j.begin_array(true);
        j.value(c.x);
        j.value(c.y);
        j.end_array();
    }
    j.end_array();
    j.field("pes_per_chip", mc.pes_per_chip);
    j.field("sram_per_pe", mc.sram_per_pe);
    j.field("code_reserve", mc.code_reserve);
    j.field("sram_budget", mc.sram_budget());
    j.field("router_entries", mc.router_entries);
    j.field("max_atoms_per_pe", mc.max_atoms_per_pe);
    j.field("tick_ms", mc.tick_ms);
    j.field("clock_hz", mc.clock_hz);
    j.field("cycles_per_tick_budget", mc.cycles_per_tick_budget());
    j.key("costs");
    j.begin_object(true);
    j.field("cycles_per_neuron", mc.costs.cycles_per_neuron);
    j.field("cycles_per_synapse", mc.costs.cycles_per_synapse);
    j.field("cycles_per_packet", mc.costs.cycles_per_packet);
    j.field("cycles_per_tick", mc.costs.cycles_per_tick);
    j.field("joule_per_synapse", mc.costs.joule_per_synapse);
    j.field("joule_per_neuron", mc.costs.joule_per_neuron);
    j.field("joule_per_packet_hop", mc.costs.joule_per_packet_hop);
    j.field("joule_per_packet_router", mc.costs.joule_per_packet_router);
    j.field("watt_idle_per_chip", mc.costs.watt_idle_per_chip);
    j.end_object();
    j.end_object();

    j.key("options");
    j.begin_object();
    j.field("weight_bits", m.options.weight_bits);
    j.field("placement", m.options.placement);
    j.field("placement_seed", m.options.placement_seed);
    j.field("placement_iterations", m.options.placement_iterations);
    j.field("chip_hop_cost", m.options.chip_hop_cost);
    j.field("reference_ms", m.reference_ms);
    j.field("compression", m.options.compression);
    j.end_object();

    j.key("keys");
    j.begin_object(true);
    j.field("population_bits", m.keys.population_bits);
    j.field("slice_bits", m.keys.slice_bits);
    j.field("neuron_bits", m.keys.neuron_bits);
    j.end_object();

    j.field("pes_used", m.pes_used());
    j.field("chips_used", m.chips_used());
    j.field("map_seconds", m.map_seconds);

    j.key("populations");
    j.begin_array();
    for (std::size_t i = 0; i < m.populations.size(); ++i) {
        const auto& p = m.populations[i];
        const auto& ps = m.spec.populations[i];
        j.begin_object();
        j.field("name", ps.name);
        j.field("size", ps.size);
        j.field("model", ps.model);
        j.field("kind", kind_name(p.kind));
        j.field("chip_model", p.chip_model);
        j.field("format", format_name(p.format));
        j.field("atoms_per_pe", p.atoms_per_pe);
        j.key("params");
        j.begin_object(true);
        j.field("threshold", p.params.threshold);
        j.field("v_reset", p.params.v_reset);
        j.field("i_offset", p.params.i_offset);
        j.field("v_init", p.params.v_init);
        j.field("alpha", p.params.alpha);
        j.field("exc_decay", p.params.exc_decay);
        j.field("inh_decay", p.params.inh_decay);
        j.field("t_refrac", p.params.t_refrac);
        j.end_object();
        j.key("slices");
        j.begin_array(true);
        for (auto s : p.slices) j.value(s);
        j.end_array();
        j.key("notes");
        j.begin_array();
        for (const auto& n : p.notes) j.value(n);
        j.end_array();
        j.end_object();
    }
    j.end_array();

    j.key("slices");
    j.begin_array();
    for (std::size_t i = 0; i < m.slices.size(); ++i) {
        const auto& s = m.slices[i];
        j.begin_object(true);
        j.field("index", i);
        j.field("population", m.spec.populations[s.population].name);
        j.field("begin", s.begin);
        j.field("end", s.end);
        const bool placed = s.chip >= 0 && static_cast<std::size_t>(s.chip) < m.machine.chips.size();
        j.field("chip", s.chip);
        if (placed) {
            j.field("chip_x", m.machine.chips[static_cast<std::size_t>(s.chip)].x);
            j.field("chip_y", m.machine.chips[static_cast<std::size_t>(s.chip)].y);
        }
        j.field("pe", s.pe);
        if (s.pe >= 0) {
            const auto q = qpe_position(s.pe);
            j.key("qpe");
            j.begin_array(true);
            j.value(q[0]);
            j.value(q[1]);
            j.value(s.pe % 4);
            j.end_array();
        }
        j.field("key", hex32(s.key));
        j.field("mask", hex32(s.mask));
        j.field("sram_bytes", s.sram_bytes);
        j.field("sram_fraction", pe_load(m, s));
        j.field("incoming_synapses", s.incoming_synapses);
        j.field("rate_hz", s.rate_hz);
        j.end_object();
    }
    j.end_array();

    j.key("projections");
    j.begin_array();
    for (const auto& q : m.projections) {
        const auto& ps = m.spec.projections[q.projection];
        j.begin_object(true);
        j.field("name", ps.name);
        j.field("source", ps.source);
        j.field("target", ps.target);
        j.field("receptor", ps.receptor);
        j.field("format", format_name(q.format));
        j.field("weight_bits", q.weight_bits);
        j.field("q_max", q.q_max);
        j.field("scale", q.scale);
        j.field("weight_step", q.weight_step);
        j.field("weight_step_mv", q.weight_step / u032);
        j.field("synapses", q.synapses);
        j.field("max_abs_weight", q.max_abs_weight);
        j.field("rms_error", q.rms_error);
        j.field("max_error", q.max_error);
        j.field("zero_weights", q.zero_weights);
        j.end_object();
    }
    j.end_array();

    j.key("routing");
    j.begin_array();
    for (const auto& t : m.routers) {
        j.begin_object();
        const auto& c = m.machine.chips[static_cast<std::size_t>(t.chip)];
        j.field("chip", t.chip);
        j.field("chip_x", c.x);
        j.field("chip_y", c.y);
        j.field("entries_generated", t.entries_generated);
        j.field("entries_uncompressed", t.entries_uncompressed);
        j.field("entries_count", t.entries.size());
        j.field("compressed", t.compressed);
        j.key("entries");
        j.begin_array();
        for (const auto& e : t.entries) {
            j.begin_object(true);
            j.field("key", hex32(e.key));
            j.field("mask", hex32(e.mask));
            j.key("links");
            j.begin_array();
            for (int l = 0; l < n_links; ++l)
                if ((e.r.links >> l) & 1u) j.value(link_name(l));
            j.end_array();
            j.key("pes");
            j.begin_array();
            for (int p = 0; p < 192; ++p)
                if (e.r.has_pe(p)) j.value(p);
            j.end_array();
            j.end_object();
        }
        j.end_array();
        j.key("default_routed");
        j.begin_array();
        for (const auto& [k, mk] : t.default_routed) {
            j.begin_object(true);
            j.field("key", hex32(k));
            j.field("mask", hex32(mk));
            j.end_object();
        }
        j.end_array();
        j.end_object();
    }
    j.end_array();

    // Per-PE memory use, one entry per used PE (the slices carry the same figures).
    double max_load = 0.0, sum_load = 0.0;
    for (const auto& s : m.slices) {
        max_load = std::max(max_load, pe_load(m, s));
        sum_load += pe_load(m, s);
    }
    j.key("memory");
    j.begin_object();
    j.field("budget_bytes", mc.sram_budget());
    j.field("max_fraction", max_load);
    j.field("mean_fraction", m.slices.empty() ? 0.0 : sum_load / static_cast<double>(m.slices.size()));
    j.key("pes");
    j.begin_array();
    for (const auto& s : m.slices) {
        j.begin_object(true);
        j.field("chip", s.chip);
        j.field("pe", s.pe);
        j.field("sram_bytes", s.sram_bytes);
        j.end_object();
    }
    j.end_array();
    j.end_object();

    auto traffic_obj = [&](const char* name, const traffic& t) {
        j.key(name);
        j.begin_object(true);
        j.field("chip_hops", t.chip_hops);
        j.field("qpe_hops", t.qpe_hops);
        j.field("cost", t.cost);
        j.end_object();
    };
    j.key("traffic");
    j.begin_object();
    traffic_obj("placed", m.placed);
    traffic_obj("random", m.random_placement);
    if (m.random_placement.cost > 0)
        j.field("ratio", m.placed.cost / m.random_placement.cost);
    else {
        j.key("ratio");
        j.null();
    }
    j.end_object();

    j.key("notes");
    j.begin_array();
    for (const auto& n : m.notes) j.value(n);
    j.end_array();
    j.end_object();
    os << '\n';
    write_text(path, os.str());
}

// ---------------------------------------------------------------------------------------
// rows.h5: /pe/<x>_<y>_<pe> per used PE.

void write_u16(hid_t loc, const std::string& name, const std::vector<std::uint16_t>& v, const std::string& file) {
    hsize_t n = v.size();
    h5::handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    const hid_t id = H5Dcreate2(loc, name.c_str(), H5T_STD_U16LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (id < 0) throw io_error(file, "write", "dataset '" + name + "' cannot be created");
    h5::handle ds(id, H5Dclose);
    if (n && H5Dwrite(ds, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
        throw io_error(file, "write", "dataset '" + name + "'");
}

std::string pe_group_name(const network_map& m, const slice_map& s) {
    const auto& c = m.machine.chips[static_cast<std::size_t>(std::max(s.chip, 0))];
    return std::to_string(c.x) + "_" + std::to_string(c.y) + "_" + std::to_string(s.pe);
}

void write_rows(const network_map& m, const std::filesystem::path& path) {
    const std::string file = path.string();
    h5::silence_errors();
    h5::new_file f(file);  // rows.h5.tmp until complete
    h5::write_attr(f, "format", std::string("engram spinnaker2 synaptic rows"), file);
    h5::write_attr(f, "word_layout",
                   std::string("LSB first: target index (index_bits) | delay-1 (delay_bits) | "
                               "weight (1 + weight_bits, two's complement)"),
                   file);
    auto root = h5::create_group(f, "pe", file);
    for (const auto& d : m.pes) {
        const auto& s = m.slices[d.slice];
        auto g = h5::create_group(root, pe_group_name(m, s), file);
        h5::write_attr(g, "slice", static_cast<std::uint64_t>(d.slice), file);
        h5::write_attr(g, "population", m.spec.populations[s.population].name, file);
        h5::write_attr(g, "neuron_begin", static_cast<std::uint64_t>(s.begin), file);
        h5::write_attr(g, "neuron_end", static_cast<std::uint64_t>(s.end), file);
        h5::write_attr(g, "index_bits", static_cast<std::int64_t>(d.index_bits), file);
        h5::write_attr(g, "delay_bits", static_cast<std::int64_t>(d.delay_bits), file);
        h5::write_attr(g, "weight_bits", static_cast<std::int64_t>(d.weight_bits), file);
        h5::write_attr(g, "word_bytes", static_cast<std::int64_t>(d.word_bytes), file);
        // Blocks concatenated: block b owns words[block_words[b] : block_words[b+1]] and
        // row_begin[block_rows[b] : block_rows[b+1]] (offsets into its own words).
        std::vector<std::uint32_t> keys, masks, projections, sources, words32, row_begin;
        std::vector<std::uint64_t> block_words{0}, block_rows{0};
        for (const auto& b : d.blocks) {
            keys.push_back(b.key);
            masks.push_back(b.mask);
            projections.push_back(static_cast<std::uint32_t>(
                b.projection_map_index < m.projections.size() ? m.projections[b.projection_map_index].projection
                                                              : b.projection_map_index));
            sources.push_back(static_cast<std::uint32_t>(b.source_slice));
            words32.insert(words32.end(), b.words.begin(), b.words.end());
            row_begin.insert(row_begin.end(), b.row_begin.begin(), b.row_begin.end());
            block_words.push_back(words32.size());
            block_rows.push_back(row_begin.size());
        }
        h5::write_vector(g, "block_key", keys, file);
        h5::write_vector(g, "block_mask", masks, file);
        h5::write_vector(g, "block_projection", projections, file);
        h5::write_vector(g, "block_source_slice", sources, file);
        h5::write_vector(g, "block_words", block_words, file);
        h5::write_vector(g, "block_rows", block_rows, file);
        h5::write_vector(g, "row_begin", row_begin, file);
        if (d.word_bytes == 2) {
            std::vector<std::uint16_t> w16(words32.begin(), words32.end());
            write_u16(g, "words", w16, file);
        } else {
            h5::write_vector(g, "words", words32, file);
        }
    }
    root.reset();
    f.commit();
}

// ---------------------------------------------------------------------------------------
// chip_load.png

namespace png {
constexpr int pe_px = 6;                      // one PE square
constexpr int qpe_pitch = 2 * pe_px + 2;      // 2 x 2 PEs, 1 px between them and 1 px between QPEs
constexpr int chip_margin = 8;
constexpr int margin = 10;
constexpr int legend_h = 30;                  // legend bar (12 px) below the grid

struct colour {
    std::uint8_t r, g, b;
};

colour ramp(double t) {
    // Dark blue -> teal -> green -> yellow (a viridis-like ramp), then red above 1.
    if (!(t >= 0)) t = 0;
    if (t > 1.0) return {220, 30, 30};
    static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    const double x = t * 4.0;
    const int i = std::min(3, static_cast<int>(x));
    const double f = x - i;
    auto c = [&](int k) { return static_cast<std::uint8_t>(std::lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]))); };
    return {c(0), c(1), c(2)};
}
}  // namespace png

void write_png(const network_map& m, const std::filesystem::path& path) {
    using namespace png;
    const auto& mc = m.machine;
    int min_x = 0, max_x = 0, min_y = 0, max_y = 0;
    for (std::size_t i = 0; i < mc.chips.size(); ++i) {
        const auto& c = mc.chips[i];
        if (i == 0 || c.x < min_x) min_x = c.x;
        if (i == 0 || c.x > max_x) max_x = c.x;
        if (i == 0 || c.y < min_y) min_y = c.y;
        if (i == 0 || c.y > max_y) max_y = c.y;
    }
    int rows = 6;
    for (int p = 0; p < mc.pes_per_chip; ++p) rows = std::max(rows, qpe_position(p)[1]);
    const int chip_w = 7 * qpe_pitch + chip_margin, chip_h = rows * qpe_pitch + chip_margin;
    const int nx = mc.chips.empty() ? 1 : max_x - min_x + 1, ny = mc.chips.empty() ? 1 : max_y - min_y + 1;
    const unsigned width = static_cast<unsigned>(2 * margin + nx * chip_w);
    const unsigned height = static_cast<unsigned>(2 * margin + ny * chip_h + legend_h);
    rgb_image img(width, height, 250, 250, 250);
    auto fill = [&](int x0, int y0, int w, int h, colour c) {
        for (int y = std::max(0, y0); y < std::min<int>(static_cast<int>(height), y0 + h); ++y)
            for (int x = std::max(0, x0); x < std::min<int>(static_cast<int>(width), x0 + w); ++x)
                img.set(static_cast<unsigned>(x), static_cast<unsigned>(y), c.r, c.g, c.b);
    };
    // PE -> slice
    std::vector<std::vector<int>> slice_at(mc.chips.size(), std::vector<int>(static_cast<std::size_t>(mc.pes_per_chip), -1));
    for (std::size_t i = 0; i < m.slices.size(); ++i) {
        const auto& s = m.slices[i];
        if (s.chip >= 0 && static_cast<std::size_t>(s.chip) < mc.chips.size() && s.pe >= 0 && s.pe < mc.pes_per_chip)
            slice_at[static_cast<std::size_t>(s.chip)][static_cast<std::size_t>(s.pe)] = static_cast<int>(i);
    }
    for (std::size_t ci = 0; ci < mc.chips.size(); ++ci) {
        const auto& c = mc.chips[ci];
        // North up: chip row y is drawn from the bottom.
        const int cx = margin + (c.x - min_x) * chip_w, cy = margin + (max_y - c.y) * chip_h;
        fill(cx + 1, cy + 1, chip_w - 2, chip_h - 2, colour{40, 40, 40});
        for (int p = 0; p < mc.pes_per_chip; ++p) {
            const auto q = qpe_position(p);
            const int qx = cx + chip_margin / 2 + (q[0] - 1) * qpe_pitch + 1;
            const int qy = cy + chip_margin / 2 + (q[1] - 1) * qpe_pitch + 1;
            const int px = qx + (p % 2) * (pe_px + 1), py = qy + ((p / 2) % 2) * (pe_px + 1);
            const int si = slice_at[ci][static_cast<std::size_t>(p)];
            const colour col = si < 0 ? colour{90, 90, 90} : ramp(pe_load(m, m.slices[static_cast<std::size_t>(si)]));
            fill(px, py, pe_px, pe_px, col);
        }
    }
    // Legend: load 0 .. 1 of the SRAM budget, ticks at quarters; grey square = unused PE.
    const int lx = margin, ly = margin + ny * chip_h + 10;
    const int lw = std::max(40, std::min(256, static_cast<int>(width) - 2 * margin - 2 * pe_px - 6));
    for (int x = 0; x < lw; ++x) fill(lx + x, ly, 1, 12, ramp(static_cast<double>(x) / (lw - 1)));
    for (int k = 0; k <= 4; ++k) fill(lx + k * (lw - 1) / 4, ly + 12, 1, 4, colour{0, 0, 0});
    fill(lx + lw + 6, ly, 2 * pe_px, 12, colour{90, 90, 90});
    engram::write_png(img, path.string());
}

// ---------------------------------------------------------------------------------------
// network_s2.py

std::string py_identifier(const std::string& name, const std::string& prefix, std::set<std::string>& used) {
    std::string s = prefix;
    for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
    std::string out = s;
    for (int k = 2; used.count(out); ++k) out = s + "_" + std::to_string(k);
    used.insert(out);
    return out;
}

std::string py_string(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') { o += '\\'; o += static_cast<char>(c); }
        else if (c < 0x20 || c >= 0x7f) { char b[8]; std::snprintf(b, sizeof b, "\\x%02x", c); o += b; }
        else o += static_cast<char>(c);
    }
    return o + "\"";
}

std::string py_float(double v) {
    if (!std::isfinite(v)) return v > 0 ? "float('inf')" : v < 0 ? "float('-inf')" : "float('nan')";
    char b[32];
    const auto r = std::to_chars(b, b + sizeof b, v);
    std::string s(b, r.ptr);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
}

// A one-line comment (no newlines in it).
std::string py_comment(const std::string& s) {
    std::string o;
    for (char c : s) o += (c == '\n' || c == '\r') ? ' ' : c;
    return o;
}

struct connection { std::uint32_t pre, post; std::int32_t weight, delay; };

void write_python(const network_map& m, const std::filesystem::path& path) {
    const auto& spec = m.spec;
    const std::size_t np = spec.populations.size();
    // Connections per spec projection, decoded from the packed words of every PE.
    std::vector<std::vector<connection>> conns(spec.projections.size());
    for (const auto& d : m.pes) {
        const auto& post_slice = m.slices[d.slice];
        const std::uint32_t imask = (1u << d.index_bits) - 1u;
        const std::uint32_t dmask = d.delay_bits > 0 ? (1u << d.delay_bits) - 1u : 0u;
        const int wbits = 1 + d.weight_bits;
        const std::uint32_t wmask = wbits >= 32 ? 0xffffffffu : (1u << wbits) - 1u;
        for (const auto& b : d.blocks) {
            if (b.projection_map_index >= m.projections.size()) continue;
            const std::size_t proj = m.projections[b.projection_map_index].projection;
            const auto& pre_slice = m.slices[b.source_slice];
            for (std::size_t r = 0; r + 1 < b.row_begin.size(); ++r)
                for (std::uint32_t k = b.row_begin[r]; k < b.row_begin[r + 1]; ++k) {
                    const std::uint32_t w = b.words[k];
                    const std::uint32_t idx = w & imask;
                    const std::uint32_t del = (w >> d.index_bits) & dmask;
                    std::uint32_t raw = (w >> (d.index_bits + d.delay_bits)) & wmask;
                    std::int32_t q = static_cast<std::int32_t>(raw);
                    if (wbits < 32 && (raw >> (wbits - 1)) & 1u) q -= static_cast<std::int32_t>(1u << wbits);
                    conns[proj].push_back({pre_slice.begin + static_cast<std::uint32_t>(r), post_slice.begin + idx, q,
                                           static_cast<std::int32_t>(del)});
                }
        }
    }
    for (auto& c : conns)
        std::sort(c.begin(), c.end(), [](const connection& a, const connection& b) {
            return std::tie(a.pre, a.post, a.delay) < std::tie(b.pre, b.post, b.delay);
        });

    // The weight unit of each target population: py-spinnaker2 adds integer weights
    // without a per-projection scale, so one step serves all projections onto a
    // population: the largest, so that rescaled weights stay within [-q_max, q_max].
    std::vector<double> unit(np, 0.0);  // mV
    std::vector<std::string> unit_from(np);
    for (const auto& q : m.projections) {
        const std::size_t t = spec.population_index(spec.projections[q.projection].target);
        const double step = std::abs(static_cast<double>(q.weight_step)) / u032;
        if (step > unit[t]) {
            unit[t] = step;
            unit_from[t] = spec.projections[q.projection].name;
        }
    }

    std::ostringstream o;
    o << "#!/usr/bin/env python3\n"
         "# The network of " << py_comment(spec.simulation.output.empty() ? "this experiment" : spec.simulation.output)
      << " as mapped by `engram map --target spinnaker2`, rebuilt with the\n"
         "# py-spinnaker2 API (gitlab.com/spinnaker2/py-spinnaker2) for a user who has a board.\n"
         "# Written by engram; docs/spinnaker2.md explains every conversion.\n"
         "#\n"
         "# Units. engram's chip model keeps v, I, threshold, v_reset and i_offset as s16.15\n"
         "# fixed-point millivolts relative to E_L, and each projection adds q * step to its\n"
         "# target, with q the quantized integer weight below and step that projection's\n"
         "# weight step in mV. py-spinnaker2 adds the integer weight itself, so every\n"
         "# voltage parameter of a population is written here in units of one weight step of\n"
         "# the projections onto it: value = (fixed_value / 2**15 mV) / step, e.g.\n"
         "# threshold = 15 mV with a 0.5 mV step is 30.0. Decays are u0.32 fractions / 2**32.\n"
         "# Delays are the stored delay fields (d - 1 ticks; the chip adds 1).\n"
         "# Time step: " << py_float(m.machine.tick_ms) << " ms per tick.\n\n"
         "from spinnaker2 import hardware, snn\n\n";

    std::set<std::string> used{"hardware", "snn", "net", "hw", "timesteps"};
    std::vector<std::string> pop_var(np);
    for (std::size_t i = 0; i < np; ++i) {
        const auto& ps = spec.populations[i];
        const auto& p = m.populations[i];
        pop_var[i] = py_identifier(ps.name, "pop_", used);
        o << "# population '" << py_comment(ps.name) << "': " << ps.size << " x " << py_comment(ps.model) << " -> "
          << p.chip_model << ", " << p.atoms_per_pe << " atoms per PE, " << p.slices.size()
          << (p.slices.size() == 1 ? " PE\n" : " PEs\n");
        for (const auto& n : p.notes) o << "# note: " << py_comment(n) << "\n";
        if (p.kind == neuron_kind::spike_list) {
            o << pop_var[i] << "_params = {";
            const auto it = ps.params.find("spike_times");
            if (it != ps.params.end() && !it->second.trains.empty()) {
                const auto& trains = it->second.trains;
                for (std::uint32_t n = 0; n < ps.size; ++n) {
                    const auto& tr = trains.size() == 1 ? trains[0] : trains[std::min<std::size_t>(n, trains.size() - 1)];
                    std::vector<std::uint64_t> ticks;
                    for (double t : tr)
                        ticks.push_back(std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(t / m.machine.tick_ms))));
                    std::sort(ticks.begin(), ticks.end());
                    o << (n ? ",\n    " : "\n    ") << n << ": [";
                    for (std::size_t k = 0; k < ticks.size(); ++k) o << (k ? ", " : "") << ticks[k];
                    o << "]";
                }
                o << "\n}  # spike ticks: round(t / tick), at least 1, as engram's float engine emits them\n";
            } else {
                o << "}\n# NOTE: '" << py_comment(ps.model)
                  << "' spikes are drawn at run time (e.g. Poisson); engram's target model runs the source "
                     "model, as its float run does. Fill this dict {neuron: [ticks]} with the spikes you want to send.\n";
            }
            o << pop_var[i] << " = snn.Population(size=" << ps.size << ", neuron_model=\"spike_list\", params="
              << pop_var[i] << "_params, name=" << py_string(ps.name) << ")\n";
        } else {
            const double u = (unit[i] > 0 ? unit[i] : 1.0) * s1615;  // s16.15; no input: 1 mV
            o << "# weight unit: " << py_float(u / s1615) << " mV"
              << (unit_from[i].empty() ? " (no incoming projection)" : " (step of projection '" + py_comment(unit_from[i]) + "')")
              << "\n";
            o << pop_var[i] << "_params = {\n"
              << "    \"threshold\": " << py_float(p.params.threshold / u) << ",\n"
              << "    \"alpha_decay\": " << py_float(p.params.alpha / u032) << ",\n"
              << "    \"i_offset\": " << py_float(p.params.i_offset / u) << ",\n";
            if (p.chip_model == "lif_no_delay") {
                // py-spinnaker2's lif_no_delay takes threshold, alpha_decay, i_offset and
                // reset only: it resets to 0 and starts from 0.
                if (p.params.v_reset != 0 || p.params.v_init != 0)
                    o << "    # v_reset " << py_float(p.params.v_reset / u) << " and v_init " << py_float(p.params.v_init / u)
                      << ": lif_no_delay has no such parameters (it resets to and starts from 0)\n";
            } else {
                o << "    \"v_init\": " << py_float(p.params.v_init / u) << ",\n"
                  << "    \"v_reset\": " << py_float(p.params.v_reset / u) << ",\n";
            }
            o << "    \"reset\": \"reset_to_v_reset\",\n";
            if (p.kind == neuron_kind::lif_curr_exp_spinnaker)
                o << "    # engram's model adds a tick's input to the currents before v is updated (sPyNNaker's order)\n";
            if (p.kind != neuron_kind::lif) {
                o << "    \"exc_decay\": " << py_float(p.params.exc_decay / u032) << ",\n"
                  << "    \"inh_decay\": " << py_float(p.params.inh_decay / u032) << ",\n"
                  << "    \"t_refrac\": " << p.params.t_refrac << ",\n";
            } else if (p.params.t_refrac > 0) {
                o << "    # t_refrac " << p.params.t_refrac << " ticks: py-spinnaker2 '" << p.chip_model
                  << "' has no refractory parameter\n";
            }
            o << "}\n";
            o << pop_var[i] << " = snn.Population(size=" << ps.size << ", neuron_model=" << py_string(p.chip_model)
              << ", params=" << pop_var[i] << "_params, name=" << py_string(ps.name) << ", record=[\"spikes\"])\n";
        }
        o << pop_var[i] << ".set_max_atoms_per_core(" << p.atoms_per_pe << ")\n\n";
    }

    std::vector<std::string> proj_var;
    for (const auto& q : m.projections) {
        const auto& ps = spec.projections[q.projection];
        const std::size_t src = spec.population_index(ps.source), tgt = spec.population_index(ps.target);
        const std::string var = py_identifier(ps.name, "proj_", used);
        const std::string cvar = "conn_" + var.substr(5);
        used.insert(cvar);
        proj_var.push_back(var);
        const auto& cs = conns[q.projection];
        o << "# projection '" << py_comment(ps.name) << "': " << py_comment(ps.source) << " -> " << py_comment(ps.target)
          << " (receptor " << py_comment(ps.receptor) << "), " << cs.size() << " synapses, " << format_name(q.format)
          << " format, weights q in [-" << q.q_max << ", " << q.q_max << "] x " << py_float(q.scale)
          << " (rms error " << py_float(q.rms_error) << ")\n";
        if (q.plastic)
            o << "# NOTE: plastic (stdp) in engram's target model; py-spinnaker2 has no plasticity, so these are its "
                 "weights at mapping time, static\n";
        // Rescale when this projection's step differs from the target's unit.
        const double step = static_cast<double>(q.weight_step) / u032;
        const double factor = unit[tgt] > 0 && step != 0 ? step / unit[tgt] : 1.0;
        const bool rescale = std::abs(factor - 1.0) > 1e-12;
        if (rescale)
            o << "# NOTE: its step differs from the unit of '" << py_comment(ps.target) << "': weights are q x "
              << py_float(factor) << ", rounded (an approximation of the engram map, which scales each projection)\n";
        o << cvar << " = [";
        for (std::size_t k = 0; k < cs.size(); ++k) {
            const auto& c = cs[k];
            const long w = rescale ? std::lround(c.weight * factor) : c.weight;
            o << (k % 8 == 0 ? "\n    " : " ") << "[" << c.pre << ", " << c.post << ", " << w << ", " << c.delay << "],";
        }
        o << (cs.empty() ? "]\n" : "\n]\n");
        if (cs.empty())
            o << "# py-spinnaker2 rejects a projection without connections: one zero-weight placeholder\n"
              << cvar << ".append([0, 0, 0, 0])\n";
        o << var << " = snn.Projection(pre=" << pop_var[src] << ", post=" << pop_var[tgt] << ", connections=" << cvar
          << ")\n\n";
    }
    (void)np;

    for (const auto& st : spec.stimuli)
        o << "# stimulus '" << py_comment(st.name) << "' (" << py_comment(st.type) << " onto " << py_comment(st.target)
          << ") is not part of the map: add it as a spike_list population or i_offset by hand\n";

    const auto ticks = static_cast<long long>(std::llround(spec.simulation.duration / m.machine.tick_ms));
    o << "\nnet = snn.Network(" << py_string("engram_" + m.machine.name) << ")\nnet.add(";
    bool first = true;
    for (const auto& v : pop_var) { o << (first ? "" : ", ") << v; first = false; }
    for (const auto& v : proj_var) { o << (first ? "" : ", ") << v; first = false; }
    o << ")\n\n"
         "timesteps = " << ticks << "  # " << py_float(spec.simulation.duration) << " ms at " << py_float(m.machine.tick_ms)
      << " ms per tick\n"
         "\n"
         "# With a board (set its address):\n"
         "# hw = hardware.SpiNNaker2Chip(eth_ip=\"192.168.1.52\")\n"
         "# hw.run(net, timesteps, sys_tick_in_s=" << py_float(m.machine.tick_ms * 1e-3) << ")\n";
    for (std::size_t i = 0; i < np; ++i)
        if (m.populations[i].kind != neuron_kind::spike_list)
            o << "# spikes_" << pop_var[i].substr(4) << " = " << pop_var[i] << ".get_spikes()  # {neuron: [ticks]}\n";
    write_text(path, o.str());
}

}  // namespace

// ---------------------------------------------------------------------------------------

std::string report_text(const network_map& m) {
    std::ostringstream o;
    const auto& mc = m.machine;
    const std::size_t total_pes = mc.chips.size() * static_cast<std::size_t>(mc.pes_per_chip);
    o << "SpiNNaker2 map\n==============\n";
    o << "machine: " << mc.name << ", " << mc.chips.size() << " chip" << (mc.chips.size() == 1 ? "" : "s") << " x "
      << mc.pes_per_chip << " PEs, " << mc.sram_per_pe / 1024 << " KiB SRAM per PE (" << mc.code_reserve / 1024
      << " KiB code reserve, " << mc.sram_budget() << " bytes for data), " << mc.router_entries
      << " router entries, tick " << fmt("%g", mc.tick_ms) << " ms, clock " << fmt("%g", mc.clock_hz / 1e6) << " MHz\n";
    o << "used: " << m.pes_used() << " of " << total_pes << " PEs on " << m.chips_used() << " chip"
      << (m.chips_used() == 1 ? "" : "s") << "\n";
    o << "keys: " << m.keys.population_bits << " population bits | " << m.keys.slice_bits << " slice bits | "
      << m.keys.neuron_bits << " neuron bits\n";
    o << "mapped in " << fmt("%.2f", m.map_seconds) << " s";
    if (m.reference_ms > 0) o << " (rates from a " << fmt("%g", m.reference_ms) << " ms reference run)";
    o << "\n\nPopulations\n";
    for (std::size_t i = 0; i < m.populations.size(); ++i) {
        const auto& p = m.populations[i];
        const auto& ps = m.spec.populations[i];
        o << "  " << ps.name << ": " << ps.size << " x " << ps.model << " -> " << p.chip_model << " (" << format_name(p.format)
          << " rows), " << p.slices.size() << " slice" << (p.slices.size() == 1 ? "" : "s") << ", " << p.atoms_per_pe
          << " atoms per PE\n";
        for (const auto& n : p.notes) o << "    note: " << n << "\n";
    }

    double max_load = 0.0, sum_load = 0.0;
    std::size_t max_bytes = 0;
    for (const auto& s : m.slices) {
        max_load = std::max(max_load, pe_load(m, s));
        sum_load += pe_load(m, s);
        max_bytes = std::max(max_bytes, s.sram_bytes);
    }
    const double mean_load = m.slices.empty() ? 0.0 : sum_load / static_cast<double>(m.slices.size());
    o << "\nSRAM per PE (of the " << mc.sram_budget() << "-byte data budget): max " << max_bytes << " bytes ("
      << fmt("%.1f", 100 * max_load) << "%), mean " << fmt("%.1f", 100 * mean_load) << "%\n";

    std::size_t gen = 0, unc = 0, fin = 0, gen_max = 0, unc_max = 0, fin_max = 0, n_compressed = 0;
    for (const auto& t : m.routers) {
        gen += t.entries_generated;
        unc += t.entries_uncompressed;
        fin += t.entries.size();
        gen_max = std::max(gen_max, t.entries_generated);
        unc_max = std::max(unc_max, t.entries_uncompressed);
        fin_max = std::max(fin_max, t.entries.size());
        n_compressed += t.compressed ? 1 : 0;
    }
    o << "\nRouter tables (" << m.routers.size() << (m.routers.size() == 1 ? " chip" : " chips") << "; total / largest table; capacity " << mc.router_entries << ")\n";
    o << "  generated:                 " << gen << " / " << gen_max << "\n";
    o << "  without defaultable:       " << unc << " / " << unc_max << "\n";
    o << "  after compression:         " << fin << " / " << fin_max << " (" << n_compressed << " table"
      << (n_compressed == 1 ? "" : "s") << " compressed, compression: " << m.options.compression << ")\n";

    o << "\nPlacement (" << m.options.placement << ", chip hop = " << fmt("%g", m.options.chip_hop_cost) << " QPE hops)\n";
    o << "  placed: cost " << fmt("%.4g", m.placed.cost) << " (" << fmt("%.4g", m.placed.chip_hops) << " spikes/s x chip hops, "
      << fmt("%.4g", m.placed.qpe_hops) << " spikes/s x QPE hops)\n";
    o << "  random: cost " << fmt("%.4g", m.random_placement.cost) << " (" << fmt("%.4g", m.random_placement.chip_hops)
      << " chip, " << fmt("%.4g", m.random_placement.qpe_hops) << " QPE)\n";
    if (m.random_placement.cost > 0)
        o << "  ratio placed / random: " << fmt("%.3f", m.placed.cost / m.random_placement.cost) << "\n";
    else
        o << "  ratio placed / random: n/a (no traffic)\n";

    o << "\nQuantization (w = q x scale; errors in weight units)\n";
    for (const auto& q : m.projections) {
        const auto& ps = m.spec.projections[q.projection];
        o << "  " << ps.name << " (" << ps.source << " -> " << ps.target << "): " << q.synapses << " synapses, "
          << format_name(q.format) << ", " << q.weight_bits << " magnitude bits (q_max " << q.q_max << "), scale "
          << fmt("%.6g", q.scale) << ", rms error " << fmt("%.4g", q.rms_error) << ", max error " << fmt("%.4g", q.max_error);
        if (q.max_abs_weight > 0) o << " (" << fmt("%.2f", 100 * q.rms_error / q.max_abs_weight) << "% of max |w|)";
        if (q.zero_weights) o << ", " << q.zero_weights << " weights rounded to 0";
        o << "\n";
    }
    if (!m.notes.empty()) {
        o << "\nNotes\n";
        for (const auto& n : m.notes) o << "  - " << n << "\n";
    }
    return o.str();
}

written_map write_map(const network_map& m, const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) throw io_error(dir, "create", "cannot create the map directory: " + ec.message());
    const fs::path d(dir);
    written_map w;
    write_json(m, d / "map.json");
    w.files.push_back((d / "map.json").string());
    write_rows(m, d / "rows.h5");
    w.files.push_back((d / "rows.h5").string());
    write_text(d / "report.txt", report_text(m));
    w.files.push_back((d / "report.txt").string());
    write_png(m, d / "chip_load.png");
    w.files.push_back((d / "chip_load.png").string());
    write_python(m, d / "network_s2.py");
    w.files.push_back((d / "network_s2.py").string());
    return w;
}

}  // namespace engram::s2

// The SpiNNaker2 map directory: map.json, rows.h5, chip_load.png, network_s2.py and
// `engram map` end to end (backends/spinnaker2/src/write.cpp, apps/main.cpp).
#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>
#include <SFML/Graphics/Image.hpp>
#include <hdf5.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include "engram/neurons/models.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

const char* small_yaml = R"(
simulation: {dt: 1 ms, duration: 100 ms, seed: 7}
populations:
  input: {size: 20, model: spike_array, params: {spike_times: [5 ms, 12 ms, 30 ms]}}
  exc:
    size: 250
    model: lif_curr_exp
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -65 mV, V_th: -50 mV, V_reset: -65 mV, t_ref: 2 ms,
             tau_syn_ex: 5 ms, tau_syn_in: 10 ms}
  inh: {size: 60, model: lif_curr_exp}
projections:
  in_exc: {source: input, target: exc, receptor: ex, weight: 400 pA, delay: 1 ms,
           connector: {rule: fixed_probability, p: 0.3}}
  ee: {source: exc, target: exc, receptor: ex, weight: {distribution: uniform, low: 10 pA, high: 60 pA},
       delay: 2 ms, connector: {rule: fixed_probability, p: 0.05}}
  ei: {source: exc, target: inh, receptor: ex, weight: 50 pA, delay: 3 ms,
       connector: {rule: fixed_probability, p: 0.1}}
  ie: {source: inh, target: exc, receptor: in, weight: -120 pA, delay: 1 ms,
       connector: {rule: fixed_probability, p: 0.1}}
record:
  spikes: all
spinnaker2:
  atoms_per_pe: {exc: 100}
  reference: 50 ms
)";

struct fixture {
    engram::model_registry models;
    engram::experiment ex;
    engram::s2::network_map m;
    fixture() {
        engram::register_builtin_models(models);
        ex = engram::parse_experiment(small_yaml, "small.yaml", models);
        m = engram::s2::map_network(ex, models, engram::s2::read_map_options(ex));
    }
};

fs::path temp_dir(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / ("engram_s2_write_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(d);
    return d;
}

std::string read_all(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string hex32(std::uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08x", v);
    return b;
}

bool have_python3() { return std::system("python3 -c pass >/dev/null 2>&1") == 0; }

std::vector<std::uint32_t> read_words(hid_t g) {
    const hid_t ds = H5Dopen2(g, "words", H5P_DEFAULT);
    REQUIRE(ds >= 0);
    const hid_t space = H5Dget_space(ds);
    const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space));
    std::vector<std::uint32_t> w(n);
    if (n) REQUIRE(H5Dread(ds, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, w.data()) >= 0);
    H5Sclose(space);
    H5Dclose(ds);
    return w;
}

std::int64_t read_int_attr(hid_t g, const char* name) {
    const hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    REQUIRE(a >= 0);
    std::int64_t v = 0;
    REQUIRE(H5Aread(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    return v;
}

}  // namespace

TEST_CASE("s2 write: map.json holds the map's slices, placements and keys", "[s2]") {
    fixture f;
    const auto dir = temp_dir("json");
    const auto w = engram::s2::write_map(f.m, dir.string());
    REQUIRE(w.files.size() == 5);
    for (const auto& file : w.files) REQUIRE(fs::exists(file));

    const YAML::Node j = YAML::LoadFile((dir / "map.json").string());
    REQUIRE(j["machine"]["name"].as<std::string>() == "chip");
    REQUIRE(j["machine"]["pes_per_chip"].as<int>() == 152);
    REQUIRE(j["machine"]["router_entries"].as<std::uint32_t>() == 16384);
    REQUIRE(j["keys"]["neuron_bits"].as<int>() == f.m.keys.neuron_bits);
    REQUIRE(j["keys"]["slice_bits"].as<int>() == f.m.keys.slice_bits);
    REQUIRE(j["keys"]["population_bits"].as<int>() == f.m.keys.population_bits);

    const auto slices = j["slices"];
    REQUIRE(slices.size() == f.m.slices.size());
    for (std::size_t i = 0; i < f.m.slices.size(); ++i) {
        const auto& s = f.m.slices[i];
        const auto js = slices[i];
        CHECK(js["population"].as<std::string>() == f.m.spec.populations[s.population].name);
        CHECK(js["begin"].as<std::uint32_t>() == s.begin);
        CHECK(js["end"].as<std::uint32_t>() == s.end);
        CHECK(js["chip"].as<int>() == s.chip);
        CHECK(js["pe"].as<int>() == s.pe);
        CHECK(js["key"].as<std::string>() == hex32(s.key));
        CHECK(js["mask"].as<std::string>() == hex32(s.mask));
        CHECK(js["sram_bytes"].as<std::size_t>() == s.sram_bytes);
        const auto q = engram::s2::qpe_position(s.pe);
        CHECK(js["qpe"][0].as<int>() == q[0]);
        CHECK(js["qpe"][1].as<int>() == q[1]);
    }
    REQUIRE(j["populations"].size() == f.m.populations.size());
    REQUIRE(j["populations"][1]["atoms_per_pe"].as<std::uint32_t>() == 100);
    REQUIRE(j["projections"].size() == f.m.projections.size());
    for (std::size_t k = 0; k < f.m.projections.size(); ++k) {
        CHECK(j["projections"][k]["q_max"].as<std::int32_t>() == f.m.projections[k].q_max);
        CHECK(j["projections"][k]["synapses"].as<std::size_t>() == f.m.projections[k].synapses);
    }
    REQUIRE(j["routing"].size() == f.m.routers.size());
    for (std::size_t c = 0; c < f.m.routers.size(); ++c) {
        const auto& t = f.m.routers[c];
        REQUIRE(j["routing"][c]["entries"].size() == t.entries.size());
        for (std::size_t e = 0; e < t.entries.size(); ++e) {
            const auto je = j["routing"][c]["entries"][e];
            CHECK(je["key"].as<std::string>() == hex32(t.entries[e].key));
            CHECK(je["mask"].as<std::string>() == hex32(t.entries[e].mask));
            std::size_t pes = 0;
            for (int p = 0; p < 192; ++p) pes += t.entries[e].r.has_pe(p) ? 1 : 0;
            CHECK(je["pes"].size() == pes);
        }
    }
    REQUIRE(j["traffic"]["placed"]["cost"].as<double>() == Approx(f.m.placed.cost));
    // The human report says what the map is.
    const std::string report = read_all(dir / "report.txt");
    CHECK_THAT(report, Contains("machine: chip"));
    CHECK_THAT(report, Contains("Router tables"));
    CHECK_THAT(report, Contains("Quantization"));
    CHECK_THAT(report, Contains("ratio placed / random"));
    for (const auto& pj : f.m.spec.projections) CHECK_THAT(report, Contains(pj.name + " ("));
    fs::remove_all(dir);
}

TEST_CASE("s2 write: rows.h5 holds every PE's packed words", "[s2]") {
    fixture f;
    const auto dir = temp_dir("rows");
    engram::s2::write_map(f.m, dir.string());
    const hid_t file = H5Fopen((dir / "rows.h5").string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(file >= 0);
    std::size_t checked = 0;
    for (const auto& d : f.m.pes) {
        const auto& s = f.m.slices[d.slice];
        const auto& c = f.m.machine.chips[static_cast<std::size_t>(s.chip)];
        const std::string name = "/pe/" + std::to_string(c.x) + "_" + std::to_string(c.y) + "_" + std::to_string(s.pe);
        const hid_t g = H5Gopen2(file, name.c_str(), H5P_DEFAULT);
        REQUIRE(g >= 0);
        CHECK(read_int_attr(g, "index_bits") == d.index_bits);
        CHECK(read_int_attr(g, "delay_bits") == d.delay_bits);
        CHECK(read_int_attr(g, "weight_bits") == d.weight_bits);
        CHECK(read_int_attr(g, "word_bytes") == d.word_bytes);
        std::vector<std::uint32_t> expect;
        for (const auto& b : d.blocks) expect.insert(expect.end(), b.words.begin(), b.words.end());
        CHECK(read_words(g) == expect);
        // Stored as 16-bit words when the format fits them.
        const hid_t ds = H5Dopen2(g, "words", H5P_DEFAULT);
        const hid_t type = H5Dget_type(ds);
        CHECK(H5Tget_size(type) == static_cast<std::size_t>(d.word_bytes));
        H5Tclose(type);
        H5Dclose(ds);
        H5Gclose(g);
        checked += expect.empty() ? 0 : 1;
    }
    H5Fclose(file);
    REQUIRE(checked > 0);
    fs::remove_all(dir);
}

TEST_CASE("s2 write: chip_load.png shows the chip grid", "[s2]") {
    fixture f;
    const auto dir = temp_dir("png");
    engram::s2::write_map(f.m, dir.string());
    sf::Image img;
    REQUIRE(img.loadFromFile((dir / "chip_load.png").string()));
    // One chip: 7 x 6 QPEs of 2 x 2 six-pixel PEs (14 px pitch), 8 px chip margin,
    // 10 px image margin, 30 px legend (docs/spinnaker2.md).
    CHECK(img.getSize().x == 2 * 10 + 7 * 14 + 8);
    CHECK(img.getSize().y == 2 * 10 + 6 * 14 + 8 + 30);
    // A used PE is coloured, an unused one grey.
    const auto& s = f.m.slices[0];
    const auto q = engram::s2::qpe_position(s.pe);
    const unsigned px = 10 + 4 + (q[0] - 1) * 14 + 1 + (s.pe % 2) * 7 + 3;
    const unsigned py = 10 + 4 + (q[1] - 1) * 14 + 1 + ((s.pe / 2) % 2) * 7 + 3;
    const auto c = img.getPixel(px, py);
    CHECK(!(c.r == c.g && c.g == c.b));
    fs::remove_all(dir);
}

TEST_CASE("s2 write: network_s2.py is Python naming every population and projection", "[s2]") {
    fixture f;
    const auto dir = temp_dir("py");
    engram::s2::write_map(f.m, dir.string());
    const auto script = dir / "network_s2.py";
    INFO("python3 is needed for this test (scripts/install-deps.sh installs it)");
    REQUIRE(have_python3());
    const std::string cmd = "python3 -c \"import ast,sys; ast.parse(open(sys.argv[1]).read())\" '" + script.string() + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);
    const std::string text = read_all(script);
    CHECK_THAT(text, Contains("from spinnaker2 import"));
    for (const auto& p : f.m.spec.populations) {
        CHECK_THAT(text, Contains("name=\"" + p.name + "\""));
        CHECK_THAT(text, Contains("pop_" + p.name + " = snn.Population("));
    }
    for (const auto& pj : f.m.spec.projections) {
        CHECK_THAT(text, Contains("proj_" + pj.name + " = snn.Projection("));
        CHECK_THAT(text, Contains("# projection '" + pj.name + "'"));
    }
    CHECK_THAT(text, Contains("set_max_atoms_per_core(100)"));
    CHECK_THAT(text, Contains("\"lif_curr_exp\""));
    CHECK_THAT(text, Contains("\"spike_list\""));
    // The connection lists hold every synapse; the file evaluates as Python data.
    const std::string check = "python3 - '" + script.string() + "' <<'EOF'\n"
        "import ast, sys\n"
        "tree = ast.parse(open(sys.argv[1]).read())\n"
        "n = {}\n"
        "for node in tree.body:\n"
        "    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.startswith('conn_'):\n"
        "        n[node.targets[0].id] = len(ast.literal_eval(node.value))\n"
        "print(' '.join('%s=%d' % kv for kv in sorted(n.items())))\n"
        "EOF\n";
    FILE* p = ::popen(check.c_str(), "r");
    REQUIRE(p);
    char buf[4096] = {};
    const std::string out(buf, std::fread(buf, 1, sizeof buf - 1, p));
    ::pclose(p);
    for (const auto& q : f.m.projections) {
        const auto& pj = f.m.spec.projections[q.projection];
        CHECK_THAT(out, Contains("conn_" + pj.name + "=" + std::to_string(q.synapses)));
    }
    fs::remove_all(dir);
}

TEST_CASE("s2 write: engram map writes MAPDIR, and a network too large fails with exit 2", "[s2]") {
    const auto dir = temp_dir("cli");
    fs::create_directories(dir);
    const auto yaml = dir / "small.yaml";
    {
        std::ofstream o(yaml);
        o << small_yaml;
    }
    const auto out = dir / "map";
    const std::string log = (dir / "log.txt").string();
    const std::string cmd = std::string(ENGRAM_BINARY) + " map --target spinnaker2 '" + yaml.string() + "' -o '" +
                            out.string() + "' > '" + log + "' 2>&1";
    const int rc = std::system(cmd.c_str());
    INFO(read_all(log));
    REQUIRE(rc == 0);
    for (const char* f : {"map.json", "rows.h5", "report.txt", "chip_load.png", "network_s2.py"})
        CHECK(fs::exists(out / f));
    CHECK_THAT(read_all(log), Contains("PEs"));
    CHECK_THAT(read_all(log), Contains("wrote"));

    // 160 PEs of one neuron each do not fit one chip of 152.
    const std::string big = std::string(ENGRAM_BINARY) + " map --target spinnaker2 '" + yaml.string() + "' -o '" +
                            (dir / "big").string() + "' --machine chip --set spinnaker2.atoms_per_pe.inh=1" +
                            " --set populations.inh.size=160 > '" + log + "' 2>&1";
    const int rc2 = std::system(big.c_str());
    const std::string msg = read_all(log);
    INFO(msg);
    REQUIRE(WIFEXITED(rc2));
    CHECK(WEXITSTATUS(rc2) == 2);
    CHECK_THAT(msg, Contains("152"));
    CHECK_THAT(msg, Contains("chip"));
    fs::remove_all(dir);
}

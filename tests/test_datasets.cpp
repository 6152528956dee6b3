// Dataset readers (IDX, N-MNIST, SHD, N-TIDIGITS), encoders and the image-to-events
// converter. Files are written here in each format's exact layout, then read back; the
// N-MNIST reader is also checked against a real recording (shared/testdata).
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>
#include <numeric>
#include <tuple>

#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/datasets/audio.hpp"
#include "engram/datasets/encoders.hpp"
#include "engram/datasets/idx.hpp"
#include "engram/datasets/nmnist.hpp"
#include "engram/datasets/saccade.hpp"

using namespace engram;
using engram::test::temp_dir;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put_bytes(const fs::path& p, const std::vector<std::uint8_t>& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// 5 samples of 3x4 bytes, each byte a function of (sample, position).
std::vector<std::uint8_t> pattern(std::size_t n, std::size_t size) {
    std::vector<std::uint8_t> d(n * size);
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::uint8_t>((i * 37 + i / size * 11) & 0xFF);
    return d;
}

const std::string sample_nmnist = ENGRAM_SOURCE_DIR "/../shared/testdata/sample_nmnist.bin";

// A digit-like test image (28x28): a ring (a "0") with a diagonal stroke, soft edges.
std::vector<std::uint8_t> synthetic_digit() {
    std::vector<std::uint8_t> img(28 * 28);
    for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
            const double r = std::hypot(x - 13.5, (y - 13.5) * 0.8);
            double v = std::clamp(1.6 - std::fabs(r - 8.0), 0.0, 1.0);
            const double d = std::fabs((x - 13.5) + (y - 13.5)) / std::sqrt(2.0);
            if (r < 8.0) v = std::max(v, std::clamp(1.2 - d, 0.0, 1.0));
            img[static_cast<std::size_t>(y * 28 + x)] = static_cast<std::uint8_t>(std::lround(255 * v));
        }
    return img;
}

std::string data_dir() {
    if (const char* d = std::getenv("ENGRAM_DATA")) return d;
    return ENGRAM_SOURCE_DIR "/data";
}

}  // namespace

// --- IDX --------------------------------------------------------------------------------

TEST_CASE("IDX files read the same samples plain and gzip-compressed, in any order", "[unit][datasets]") {
    const auto dir = temp_dir("datasets_idx");
    const auto data = pattern(5, 12);
    write_idx((dir / "x.idx").string(), {5, 3, 4}, data);
    write_idx((dir / "x.idx.gz").string(), {5, 3, 4}, data, true);
    CHECK(file_bytes(dir / "x.idx").size() == 16 + 60);
    CHECK(file_bytes(dir / "x.idx.gz")[0] == 0x1F);  // really compressed

    for (const char* name : {"x.idx", "x.idx.gz"}) {
        idx_file f((dir / name).string());
        CHECK(f.compressed() == (std::string(name).size() > 5));
        CHECK(f.count() == 5);
        CHECK(f.shape() == std::vector<std::size_t>{3, 4});
        CHECK(f.sample_size() == 12);
        CHECK(f.header_size() == 16);
        std::vector<std::uint8_t> s;
        for (std::size_t i : {0, 1, 2, 4, 3, 0, 4}) {  // forward, backward, repeated
            f.read(i, s);
            REQUIRE(s.size() == 12);
            CHECK(std::equal(s.begin(), s.end(), data.begin() + static_cast<long>(12 * i)));
        }
        f.read(1, 3, s);
        CHECK(std::equal(s.begin(), s.end(), data.begin() + 12, data.begin() + 48));
        f.verify();
        CHECK_THROWS_WITH(f.read(5), Contains("requested, the file has 5"));
    }

    // Labels and a whole split: images plain, labels compressed.
    write_idx((dir / "train-images-idx3-ubyte").string(), {5, 3, 4}, data);
    write_idx((dir / "train-labels-idx1-ubyte.gz").string(), {5}, {3, 1, 4, 1, 5}, true);
    CHECK(read_idx_labels((dir / "train-labels-idx1-ubyte.gz").string()) == std::vector<std::uint8_t>{3, 1, 4, 1, 5});
    auto split = open_idx_dataset(dir.string(), "train");
    CHECK(split.count() == 5);
    CHECK(split.images.read(2) == std::vector<std::uint8_t>(data.begin() + 24, data.begin() + 36));
    CHECK_THROWS_WITH(open_idx_dataset(dir.string(), "t10k"), Contains("t10k-images-idx3-ubyte"));

    write_idx((dir / "t10k-images-idx3-ubyte").string(), {5, 3, 4}, data);
    write_idx((dir / "t10k-labels-idx1-ubyte").string(), {4}, {1, 2, 3, 4});
    CHECK_THROWS_WITH(open_idx_dataset(dir.string(), "t10k"), Contains("4 labels for 5 images"));
    write_idx((dir / "t10k-labels-idx1-ubyte").string(), {5}, {1, 2, 3, 14, 4});
    CHECK_THROWS_WITH(open_idx_dataset(dir.string(), "t10k"),
                      Contains("label 14 of sample 3 (byte offset 11)"));
}

TEST_CASE("IDX errors name the file, the sample and the byte offset", "[unit][datasets]") {
    const auto dir = temp_dir("datasets_idx_errors");
    const auto data = pattern(5, 12);
    const fs::path plain = dir / "x.idx", gz = dir / "x.idx.gz";
    write_idx(plain.string(), {5, 3, 4}, data);
    write_idx(gz.string(), {5, 3, 4}, data, true);
    const auto full = file_bytes(plain);

    SECTION("truncated plain file") {
        put_bytes(plain, {full.begin(), full.end() - 20});  // 56 bytes: sample 3 is cut
        CHECK_THROWS_AS(idx_file(plain.string()), io_error);
        CHECK_THROWS_WITH(idx_file(plain.string()),
                          Contains("x.idx") && Contains("truncated") && Contains("sample 3 (at byte offset 52)") &&
                              Contains("ends at byte offset 56"));
    }
    SECTION("trailing data") {
        auto longer = full;
        longer.push_back(7);
        put_bytes(plain, longer);
        CHECK_THROWS_WITH(idx_file(plain.string()), Contains("1 bytes of trailing data") && Contains("byte offset 76"));
    }
    SECTION("truncated gzip file: found when the missing sample is read") {
        std::vector<std::uint8_t> noise(5 * 4000);
        random_stream rng(1, 2, 3);
        for (auto& b : noise) b = static_cast<std::uint8_t>(rng.next_u32());  // incompressible
        write_idx(gz.string(), {5, 40, 100}, noise, true);
        const auto z = file_bytes(gz);
        put_bytes(gz, {z.begin(), z.end() - 3000});  // the stream breaks off in sample 4
        idx_file f(gz.string());
        CHECK(f.count() == 5);
        CHECK(f.read(0) == std::vector<std::uint8_t>(noise.begin(), noise.begin() + 4000));
        CHECK_THROWS_WITH(f.read(4), Contains("x.idx.gz") && Contains("inside sample 4 of 5") &&
                                         Contains("uncompressed byte offset"));
        CHECK_THROWS_WITH(f.verify(), Contains("inside sample 4 of 5"));
    }
    SECTION("a header promising more samples than the file holds") {
        auto wrong = full;
        wrong[7] = 6;  // 6 samples announced, 5 present
        put_bytes(dir / "y.idx", wrong);
        // A plain file is checked when opened...
        CHECK_THROWS_WITH(idx_file((dir / "y.idx").string()),
                          Contains("sample 5 (at byte offset 76) is incomplete"));
        // ...a gzip file when the missing sample is read.
        REQUIRE(std::system(("gzip -kf '" + (dir / "y.idx").string() + "'").c_str()) == 0);
        idx_file f((dir / "y.idx.gz").string());
        CHECK(f.count() == 6);
        CHECK(f.read(4) == std::vector<std::uint8_t>(data.begin() + 48, data.end()));
        CHECK_THROWS_WITH(f.read(5), Contains("file ends at uncompressed byte offset 76, inside sample 5 of 6"));
        CHECK_THROWS_WITH(f.verify(), Contains("inside sample 5 of 6"));
        // and a gzip file with more bytes than announced fails verify()
        wrong[7] = 4;
        put_bytes(dir / "y.idx", wrong);
        REQUIRE(std::system(("gzip -kf '" + (dir / "y.idx").string() + "'").c_str()) == 0);
        idx_file g((dir / "y.idx.gz").string());
        CHECK_THROWS_WITH(g.verify(), Contains("12 bytes of trailing data") && Contains("uncompressed byte offset 64"));
    }
    SECTION("bad magic number, element type, dimensions") {
        auto bad = full;
        bad[0] = 0x12;
        put_bytes(plain, bad);
        CHECK_THROWS_WITH(idx_file(plain.string()), Contains("not an IDX file") && Contains("0x12"));
        bad = full;
        bad[2] = 0x0D;
        put_bytes(plain, bad);
        CHECK_THROWS_WITH(idx_file(plain.string()), Contains("0x0D (float32)") && Contains("not supported"));
        bad = full;
        bad[8] = 0x80;
        put_bytes(plain, bad);
        CHECK_THROWS_WITH(idx_file(plain.string()), Contains("dimension 1 at byte offset 8 is negative"));
        put_bytes(plain, {0, 0, 8});
        CHECK_THROWS_WITH(idx_file(plain.string()), Contains("inside the IDX header at byte offset 3"));
        put_bytes(plain, {0, 0, 8, 3, 0, 0, 0, 5, 0});
        CHECK_THROWS_WITH(idx_file(plain.string()), Contains("byte offset 9") && Contains("3 dimension sizes"));
        CHECK_THROWS_WITH(idx_file((dir / "missing.idx").string()), Contains("missing.idx") && Contains("no such file"));
        CHECK_THROWS_WITH(read_idx_labels(gz.string()), Contains("not a label file"));
    }
    SECTION("corrupt compressed data") {
        write_idx(gz.string(), {5, 3, 4}, data, true);
        auto z = file_bytes(gz);
        for (std::size_t k = 12; k + 8 < z.size(); k += 3) z[k] ^= 0x5A;
        put_bytes(gz, z);
        bool thrown = false;
        try {
            idx_file f(gz.string());
            for (std::size_t i = 0; i < f.count(); ++i) f.read(i);
            f.verify();
        } catch (const io_error& e) {
            thrown = true;
            CHECK_THAT(e.what(), Contains("x.idx.gz"));
        }
        CHECK(thrown);
    }
}

TEST_CASE("MNIST and Fashion-MNIST, when fetched, have their published sizes and first labels", "[unit][datasets]") {
    for (const auto& [name, train0, test0] : {std::tuple{"mnist", 5, 7}, std::tuple{"fashion-mnist", 9, 9}}) {
        const std::string dir = data_dir() + "/" + name;
        if (!fs::exists(dir)) {
            WARN("skipped: " << dir << " not found (scripts/fetch-data.sh " << name << ")");
            continue;
        }
        auto train = open_idx_dataset(dir, "train");
        auto test = open_idx_dataset(dir, "t10k");
        CHECK(train.count() == 60000);
        CHECK(test.count() == 10000);
        CHECK(train.images.shape() == std::vector<std::size_t>{28, 28});
        CHECK(int(train.labels[0]) == train0);
        CHECK(int(test.labels[0]) == test0);
        const auto last = test.images.read(9999);
        CHECK(std::accumulate(last.begin(), last.end(), 0) > 0);
    }
}

// --- N-MNIST ----------------------------------------------------------------------------

TEST_CASE("N-MNIST: the real sample file decodes to its documented content", "[unit][datasets]") {
    if (!fs::exists(sample_nmnist)) {
        WARN("skipped: " << sample_nmnist << " not found");
        return;
    }
    const auto ev = read_nmnist(sample_nmnist);
    REQUIRE(ev.size() == 4325);
    const auto s = describe_events(ev);
    CHECK(s.on == 2145);
    CHECK(s.off == 2180);
    CHECK(s.t_first_us == 654);
    CHECK(s.t_last_us == 311175);
    CHECK(ev[0] == dvs_event{7, 15, 1, 654});
    CHECK(ev[1] == dvs_event{19, 18, 0, 2999});
    CHECK(ev[2] == dvs_event{21, 17, 0, 3017});
    CHECK(ev[3] == dvs_event{10, 18, 0, 3893});
    CHECK(ev[4] == dvs_event{12, 9, 1, 4023});
    CHECK(std::is_sorted(ev.begin(), ev.end(), [](const dvs_event& a, const dvs_event& b) { return a.t_us < b.t_us; }));
    std::uint16_t max_x = 0, max_y = 0;
    for (const auto& e : ev) { max_x = std::max(max_x, e.x); max_y = std::max(max_y, e.y); }
    CHECK(max_x == 33);
    CHECK(max_y == 33);

    const auto trains = to_spike_trains(ev, nmnist_sensor_size, nmnist_sensor_size);
    REQUIRE(trains.size() == 2 * 34 * 34);
    CHECK(trains[(1 * 34 + 15) * 34 + 7].front() == Approx(0.654));
    std::size_t n = 0;
    for (const auto& t : trains) n += t.size();
    CHECK(n == 4325);
}

TEST_CASE("N-MNIST: overflow markers, truncated and out-of-range events", "[unit][datasets]") {
    // (x, y, p, t) -> 5 bytes
    const auto enc = [](std::uint8_t x, std::uint8_t y, int p, std::uint32_t t) {
        return std::vector<std::uint8_t>{x, y, static_cast<std::uint8_t>((p << 7) | ((t >> 16) & 0x7F)),
                                         static_cast<std::uint8_t>(t >> 8), static_cast<std::uint8_t>(t)};
    };
    std::vector<std::uint8_t> b;
    for (const auto& e : {enc(1, 2, 1, 0x7FFFFF), enc(0, 240, 0, 0), enc(3, 4, 0, 5), enc(0, 240, 0, 0),
                          enc(33, 33, 1, 6)})
        b.insert(b.end(), e.begin(), e.end());
    const auto ev = decode_nmnist(b.data(), b.size(), "mem");
    REQUIRE(ev.size() == 3);
    CHECK(ev[0] == dvs_event{1, 2, 1, 0x7FFFFF});
    CHECK(ev[1] == dvs_event{3, 4, 0, 8192 + 5});
    CHECK(ev[2] == dvs_event{33, 33, 1, 2 * 8192 + 6});

    CHECK_THROWS_WITH(decode_nmnist(b.data(), 12, "f.bin"),
                      Contains("f.bin") && Contains("not a multiple of 5") && Contains("event 2 at byte offset 10"));
    auto bad = b;
    bad[10] = 34;  // event 2 x
    CHECK_THROWS_WITH(decode_nmnist(bad.data(), bad.size(), "f.bin"),
                      Contains("event 2 at byte offset 10 has pixel (34, 4)"));
    CHECK(decode_nmnist(bad.data(), bad.size(), "f.bin", 0).size() == 3);  // check disabled

    const auto dir = temp_dir("datasets_nmnist");
    put_bytes(dir / "odd.bin", {1, 2, 3, 4, 5, 6});
    CHECK_THROWS_WITH(read_nmnist((dir / "odd.bin").string()), Contains("odd.bin") && Contains("byte offset 5"));
    CHECK_THROWS_WITH(read_nmnist((dir / "none.bin").string()), Contains("none.bin"));
}

TEST_CASE("N-MNIST directories list (path, label) sorted by label then name", "[unit][datasets]") {
    const auto dir = temp_dir("datasets_nmnist_dir");
    for (const char* f : {"1/00010.bin", "1/00002.bin", "0/00007.bin", "10/00001.bin", "0/notes.txt", "x/00003.bin"}) {
        fs::create_directories((dir / f).parent_path());
        put_bytes(dir / f, {});
    }
    put_bytes(dir / "README", {});
    const auto files = list_nmnist(dir.string());
    REQUIRE(files.size() == 4);
    CHECK(files[0].label == 0);
    CHECK(fs::path(files[0].path).filename() == "00007.bin");
    CHECK(files[1].label == 1);
    CHECK(fs::path(files[1].path).filename() == "00002.bin");
    CHECK(fs::path(files[2].path).filename() == "00010.bin");
    CHECK(files[3].label == 10);
    CHECK(read_nmnist(files[0].path).empty());
    CHECK_THROWS_WITH(list_nmnist((dir / "x").string()), Contains("no class folders"));
    CHECK_THROWS_WITH(list_nmnist((dir / "nope").string()), Contains("not a directory"));
}

// --- HDF5 audio datasets ----------------------------------------------------------------

namespace {

// A 1-D variable-length dataset written from per-sample vectors (file type `file_base`).
template <class T>
void write_vlen(hid_t loc, const char* name, hid_t mem_base, hid_t file_base, const std::vector<std::vector<T>>& rows) {
    std::vector<hvl_t> v;
    for (const auto& r : rows) v.push_back({r.size(), const_cast<T*>(r.data())});
    const hsize_t n = rows.size();
    h5::handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    h5::handle ftype(H5Tvlen_create(file_base), H5Tclose), mtype(H5Tvlen_create(mem_base), H5Tclose);
    h5::handle ds(H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    REQUIRE(ds.valid());
    REQUIRE(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
}

void write_u16(hid_t loc, const char* name, const std::vector<std::uint16_t>& v) {
    const hsize_t n = v.size();
    h5::handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    h5::handle ds(H5Dcreate2(loc, name, H5T_STD_U16LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    REQUIRE(H5Dwrite(ds, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
}

void write_strings(hid_t loc, const char* name, const std::vector<std::string>& s, bool variable) {
    const hsize_t n = s.size();
    h5::handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    h5::handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    if (variable) {
        H5Tset_size(type, H5T_VARIABLE);
        std::vector<const char*> p;
        for (const auto& x : s) p.push_back(x.c_str());
        h5::handle ds(H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
        REQUIRE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) >= 0);
    } else {  // as h5py writes numpy 'S' arrays: fixed width, NUL-padded
        std::size_t w = 1;
        for (const auto& x : s) w = std::max(w, x.size());
        H5Tset_size(type, w);
        H5Tset_strpad(type, H5T_STR_NULLPAD);
        std::string buf(n * w, '\0');
        for (std::size_t k = 0; k < s.size(); ++k) buf.replace(k * w, s[k].size(), s[k]);
        h5::handle ds(H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
        REQUIRE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) >= 0);
    }
}

// IEEE half precision, as h5py stores numpy float16.
h5::handle half_type() {
    h5::handle t(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}

const std::vector<std::vector<float>> shd_times = {{0.0f, 0.25f, 0.5f}, {}, {0.125f, 1.5f}};
const std::vector<std::vector<std::uint16_t>> shd_units = {{699, 3, 3}, {}, {0, 42}};

void write_shd(const std::string& path, hid_t time_type, bool speaker = true) {
    auto f = h5::create_file(path);
    auto spikes = h5::create_group(f, "spikes", path);
    write_vlen(spikes, "times", H5T_NATIVE_FLOAT, time_type, shd_times);
    write_vlen(spikes, "units", H5T_NATIVE_UINT16, H5T_STD_U16LE, shd_units);
    write_u16(f, "labels", {4, 19, 0});
    auto extra = h5::create_group(f, "extra", path);
    if (speaker) write_u16(extra, "speaker", {2, 7, 2});
    std::vector<std::string> keys;
    for (int k = 0; k < 20; ++k) keys.push_back("word-" + std::to_string(k));
    write_strings(extra, "keys", keys, true);
}

}  // namespace

TEST_CASE("SHD/SSC files: ragged spike arrays read one sample at a time", "[unit][datasets]") {
    const auto dir = temp_dir("datasets_shd");
    const std::string path = (dir / "shd.h5").string();
    write_shd(path, H5T_IEEE_F32LE);
    shd_file f(path);
    REQUIRE(f.count() == 3);
    CHECK(f.labels() == std::vector<int>{4, 19, 0});
    REQUIRE(f.keys().size() == 20);
    CHECK(f.keys()[19] == "word-19");
    for (std::size_t i : {2, 0, 1}) {
        const auto s = f.read(i);
        CHECK(s.times_s == shd_times[i]);
        CHECK(s.channels == shd_units[i]);
        CHECK(s.label == f.label(i));
        CHECK(s.speaker == std::array{2, 7, 2}[i]);
    }
    const auto trains = f.read(0).trains(shd_channels);
    REQUIRE(trains.size() == 700);
    CHECK(trains[3] == std::vector<double>{250.0, 500.0});
    CHECK(trains[699] == std::vector<double>{0.0});
    CHECK_THROWS_WITH(f.read(3), Contains("sample 3 requested, the file has 3"));

    // float16 times (h5py's numpy float16) and no speakers
    const std::string half = (dir / "half.h5").string();
    write_shd(half, half_type(), false);
    shd_file h(half);
    CHECK(h.read(2).times_s == shd_times[2]);
    CHECK(h.read(0).speaker == -1);
}

TEST_CASE("SHD/SSC errors name the file, the dataset and the sample", "[unit][datasets]") {
    const auto dir = temp_dir("datasets_shd_errors");
    const std::string path = (dir / "bad.h5").string();
    {
        auto f = h5::create_file(path);
        auto spikes = h5::create_group(f, "spikes", path);
        write_vlen(spikes, "times", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, shd_times);
        write_vlen<std::uint16_t>(spikes, "units", H5T_NATIVE_UINT16, H5T_STD_U16LE, {{1, 2, 3}, {}, {5}});
        write_u16(f, "labels", {1, 2, 3});
    }
    shd_file f(path);
    CHECK(f.read(0).times_s.size() == 3);
    CHECK_THROWS_WITH(f.read(2), Contains("bad.h5") && Contains("sample 2 has 2 spike times but 1 units"));

    const std::string flat = (dir / "flat.h5").string();
    {
        auto f2 = h5::create_file(flat);
        auto spikes = h5::create_group(f2, "spikes", flat);
        h5::write_vector<float>(spikes, "times", {0.1f, 0.2f}, flat);
        write_vlen(spikes, "units", H5T_NATIVE_UINT16, H5T_STD_U16LE, shd_units);
        write_u16(f2, "labels", {1, 2, 3});
    }
    CHECK_THROWS_WITH(shd_file(flat), Contains("flat.h5") && Contains("'spikes/times' is not a variable-length"));
    CHECK_THROWS_WITH(shd_file((dir / "none.h5").string()), Contains("none.h5"));
}

TEST_CASE("N-TIDIGITS files: per-sample groups keyed by the ids in <split>_labels", "[unit][datasets]") {
    const auto dir = temp_dir("datasets_ntidigits");
    const std::string path = (dir / "n-tidigits.hdf5").string();
    const std::vector<std::string> ids = {"man-ae-1o2", "woman-bx-z", "boy-cd-7a"};
    {
        auto f = h5::create_file(path);
        for (const char* split : {"train", "test"}) {
            auto addr = h5::create_group(f, std::string(split) + "_addresses", path);
            auto ts = h5::create_group(f, std::string(split) + "_timestamps", path);
            for (std::size_t k = 0; k < ids.size(); ++k) {
                h5::write_vector<std::uint32_t>(addr, ids[k], {static_cast<std::uint32_t>(k), 63, 5}, path);
                h5::write_vector<double>(ts, ids[k], {0.5, 0.001 * static_cast<double>(k), 0.75}, path);
            }
            write_strings(f, (std::string(split) + "_labels").c_str(), ids, split[1] == 'e');
        }
    }
    for (const char* split : {"train", "test"}) {
        ntidigits_file f(path, split);
        REQUIRE(f.count() == 3);
        CHECK(f.id(0) == "man-ae-1o2");
        const auto s = f.read(2);
        CHECK(s.id == "boy-cd-7a");
        CHECK(s.digits == "7");
        CHECK(s.label == 7);
        CHECK(s.channels == std::vector<std::uint16_t>{2, 63, 5});
        CHECK(s.times_s == std::vector<double>{0.5, 0.002, 0.75});
        CHECK(f.read(0).label == -1);
        CHECK(f.read(1).label == 0);
        const auto tr = s.trains();
        REQUIRE(tr.size() == 64);
        CHECK(tr[63] == std::vector<double>{2.0});
    }
    CHECK(ntidigits_file::label_of("o") == 10);
    CHECK(ntidigits_file::digits_of("man-ae-1o2b") == "1o2");
    CHECK_THROWS_WITH(ntidigits_file(path, "dev"), Contains("'train' or 'test'"));
    // A missing per-sample dataset names the sample.
    {
        h5::silence_errors();
        const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(fid >= 0);
        H5Ldelete(fid, "test_timestamps/woman-bx-z", H5P_DEFAULT);
        H5Fclose(fid);
    }
    ntidigits_file t(path, "test");
    CHECK_THROWS_WITH(t.read(1), Contains("sample 1 ('woman-bx-z'): no dataset 'test_timestamps/woman-bx-z'"));
}

// --- encoders ---------------------------------------------------------------------------

TEST_CASE("Poisson rate coding: mean rate within 5 sigma, a pure function of the key", "[unit][datasets]") {
    std::vector<double> v(1000, 0.5);
    v[0] = 0.0;
    v[1] = 1.0;
    const rate_code code{100.0, 1000.0};
    const auto tr = poisson_encode(v, code, {7, 0});
    CHECK(tr[0].empty());
    std::size_t n = 0;
    for (std::size_t i = 2; i < tr.size(); ++i) {
        n += tr[i].size();
        CHECK(std::is_sorted(tr[i].begin(), tr[i].end()));
        if (!tr[i].empty()) { CHECK(tr[i].front() > 0.0); CHECK(tr[i].back() <= 1000.0); }
    }
    const double expect = 998 * 50.0;
    CHECK(std::fabs(double(n) - expect) < 5 * std::sqrt(expect));
    // Neuron 1 at value 1: 100 Hz for 1 s.
    CHECK(std::fabs(double(tr[1].size()) - 100.0) < 5 * 10.0);

    // The train of a neuron does not depend on the others; samples and seeds differ.
    const std::vector<double> two{0.0, 1.0};
    CHECK(poisson_encode(two, code, {7, 0})[1] == tr[1]);
    CHECK(poisson_encode(two, code, {7, 1})[1] != tr[1]);
    CHECK(poisson_encode(two, code, {8, 0})[1] != tr[1]);
    CHECK_THROWS_WITH(poisson_encode(std::vector<double>{0.2, 1.5}, code), Contains("value 1 is 1.5"));
}

TEST_CASE("regular rate coding gives exact counts at multiples of the period", "[unit][datasets]") {
    const std::vector<double> v{1.0, 0.5, 0.33, 0.0, 0.3};
    const auto tr = regular_encode(v, {100.0, 100.0});
    CHECK(tr[0].size() == 10);
    CHECK(tr[0].front() == Approx(10.0));
    CHECK(tr[0].back() == Approx(100.0));
    CHECK(tr[1].size() == 5);
    CHECK(tr[1][1] == Approx(40.0));
    CHECK(tr[2].size() == 3);
    CHECK(tr[3].empty());
    CHECK(tr[4].size() == 3);  // 30 Hz * 100 ms = 3 exactly, despite rounding
}

TEST_CASE("latency coding: larger values spike earlier, zero never", "[unit][datasets]") {
    const std::vector<double> v{0.0, 0.1, 0.4, 0.7, 1.0};
    const auto lin = latency_encode(v, {});
    CHECK(lin[0].empty());
    for (std::size_t i = 1; i < v.size(); ++i) REQUIRE(lin[i].size() == 1);
    for (std::size_t i = 2; i < v.size(); ++i) CHECK(lin[i][0] < lin[i - 1][0]);
    CHECK(lin[4][0] == Approx(0.0));
    CHECK(lin[2][0] == Approx(30.0));

    latency_code lg;
    lg.shape = latency_code::curve::log;
    lg.threshold = 0.2;
    lg.tau_ms = 10.0;
    lg.t_max_ms = 100.0;
    const auto lt = latency_encode(v, lg);
    CHECK(lt[0].empty());
    CHECK(lt[1].empty());  // below threshold
    for (std::size_t i = 3; i < v.size(); ++i) CHECK(lt[i][0] < lt[i - 1][0]);
    CHECK(lt[4][0] == Approx(10.0 * std::log(1.0 / 0.8)));
    CHECK_THROWS_WITH(latency_encode(v, latency_code{latency_code::curve::log, 50.0, 0.0, 10.0}),
                      Contains("threshold must be in (0, 1)"));
}

TEST_CASE("send-on-delta coding counts level crossings of a ramp and a sine", "[unit][datasets]") {
    // Ramp 0 -> 1.05 in 1000 samples, threshold 0.1: 10 ON at the crossing of each level.
    std::vector<double> ramp(1001);
    for (std::size_t k = 0; k < ramp.size(); ++k) ramp[k] = 1.05 * static_cast<double>(k) / 1000.0;
    const auto r = delta_encode(ramp, {0.1, 1.0, true});
    REQUIRE(r.size() == 2);
    REQUIRE(r[0].size() == 10);
    CHECK(r[1].empty());
    for (std::size_t n = 0; n < 10; ++n) CHECK(r[0][n] == Approx(0.1 * double(n + 1) / 1.05 * 1000.0).epsilon(1e-9));
    const auto rs = delta_encode(ramp, {0.1, 1.0, false});  // at the sample after the crossing
    CHECK(rs[0][0] == Approx(96.0));

    // 1.25 periods of sin, threshold 0.3: up to 0.9 (3 ON), down to -0.9 (6 OFF), up to 0.9 (6 ON).
    std::vector<double> sine(2501);
    for (std::size_t k = 0; k < sine.size(); ++k) sine[k] = std::sin(2 * std::numbers::pi * static_cast<double>(k) / 2000.0);
    std::vector<double> falling(ramp.rbegin(), ramp.rend());
    const auto s = delta_encode({sine, falling}, {0.3, 0.5, true});
    REQUIRE(s.size() == 4);
    CHECK(s[0].size() == 9);
    CHECK(s[1].size() == 6);
    CHECK(std::is_sorted(s[0].begin(), s[0].end()));
    CHECK(s[0][2] < s[1][0]);  // the third ON comes before the first OFF
    CHECK(s[2].empty());
    CHECK(s[3].size() == 3);  // 1.05 down to 0 by 0.3
    CHECK(s[0].back() <= 2500 * 0.5);
}

// --- image -> events --------------------------------------------------------------------

TEST_CASE("image-to-events: deterministic, both polarities, three saccades", "[unit][datasets]") {
    const auto img = synthetic_digit();
    const auto a = image_to_events(img, 28, 28);
    const auto b = image_to_events(img, 28, 28);
    CHECK(a == b);
    const auto s = describe_events(a);
    INFO("events " << s.events << " on " << s.on << " off " << s.off);
    CHECK(s.events > 500);
    CHECK(s.on > s.events / 5);
    CHECK(s.off > s.events / 5);
    CHECK(s.t_last_us <= 300000);
    CHECK(std::is_sorted(a.begin(), a.end(), [](const dvs_event& x, const dvs_event& y) { return x.t_us < y.t_us; }));
    CHECK(std::all_of(a.begin(), a.end(), [](const dvs_event& e) { return e.x < 34 && e.y < 34; }));
    // Events in each of the three saccades.
    std::array<std::size_t, 3> per{};
    for (const auto& e : a) per[std::min<std::size_t>(e.t_us / 100000, 2)]++;
    for (auto c : per) CHECK(c > s.events / 6);
    // No pile-up when the image returns to its start (pixels start at random levels).
    CHECK(std::count_if(a.begin(), a.end(), [](const dvs_event& e) { return e.t_us >= 299900; }) < 20);

    // The path: triangle vertices at 0, 100, 200, 300 ms.
    const saccade_params p;
    CHECK(saccade_displacement(0, p) == std::pair{0.0, 0.0});
    CHECK(saccade_displacement(100000, p) == std::pair{1.5, 3.0});
    CHECK(saccade_displacement(200000, p) == std::pair{-1.5, 3.0});
    CHECK(saccade_displacement(300000, p) == std::pair{0.0, 0.0});

    // A black image gives nothing; with noise, Poisson background events only.
    const std::vector<std::uint8_t> black(28 * 28, 0);
    CHECK(image_to_events(black, 28, 28).empty());
    saccade_params noisy;
    noisy.noise_hz = 5.0;
    const auto nb = image_to_events(black, 28, 28, noisy);
    const double expect = 5.0 * 34 * 34 * 0.3;
    CHECK(std::fabs(double(nb.size()) - expect) < 5 * std::sqrt(expect));
    noisy.sample = 1;
    CHECK(image_to_events(black, 28, 28, noisy) != nb);

    // Threshold mismatch changes the events but stays deterministic.
    saccade_params mm;
    mm.threshold_sigma = 0.1;
    const auto m1 = image_to_events(img, 28, 28, mm);
    CHECK(m1 == image_to_events(img, 28, 28, mm));
    CHECK(m1 != a);
    CHECK_THROWS_WITH(image_to_events(img, 28, 27), Contains("wrong number of pixels"));
    CHECK_THROWS_WITH(image_to_events(std::vector<std::uint8_t>(40 * 40), 40, 40), Contains("larger than the sensor"));
}

// --- measurements (hidden: run with ./engram_tests "[.benchmark]") -----------------------

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

TEST_CASE("datasets: reading speed and converter statistics", "[.benchmark]") {
    using clock = std::chrono::steady_clock;
    const std::string mnist = data_dir() + "/mnist";
    const auto tmp = temp_dir("datasets_bench");
    std::string plain_path;
    if (fs::exists(mnist + "/train-images-idx3-ubyte")) {
        plain_path = mnist + "/train-images-idx3-ubyte";
    } else {
        std::cout << "MNIST not fetched: timing a synthetic 60000 x 28 x 28 file\n";
        std::vector<std::uint8_t> d(60000u * 784u);
        for (std::size_t i = 0; i < d.size(); ++i) d[i] = (i % 28 > 8 && i % 28 < 20) ? 200 : 0;
        plain_path = (tmp / "train-images-idx3-ubyte").string();
        write_idx(plain_path, {60000, 28, 28}, d);
    }
    const std::string gz_path = (tmp / "train-images-idx3-ubyte.gz").string();
    {
        idx_file src(plain_path);
        std::vector<std::uint8_t> all;
        src.read(0, src.count(), all);
        write_idx(gz_path, {src.count(), 28, 28}, all, true);
    }
    std::vector<std::uint8_t> s;
    for (const auto& path : {plain_path, gz_path}) {
        idx_file f(path);
        auto t0 = clock::now();
        std::size_t sum = 0;
        for (std::size_t i = 0; i < f.count(); ++i) { f.read(i, s); sum += s[400]; }
        const double seq = static_cast<double>(f.count()) / seconds_since(t0);
        random_stream rng(1, 1, 0);
        const std::size_t n_random = f.compressed() ? 20 : 20000;
        t0 = clock::now();
        for (std::size_t k = 0; k < n_random; ++k) { f.read(rng.below(static_cast<u32>(f.count())), s); sum += s[0]; }
        const double rnd = static_cast<double>(n_random) / seconds_since(t0);
        std::printf("IDX %-5s %9.0f samples/s sequential, %9.1f samples/s random (%zu)\n",
                    f.compressed() ? "gzip" : "plain", seq, rnd, sum % 10);
    }
    if (fs::exists(sample_nmnist)) {
        const int reps = 2000;
        auto t0 = clock::now();
        std::size_t n = 0;
        for (int k = 0; k < reps; ++k) n += read_nmnist(sample_nmnist).size();
        const double dt = seconds_since(t0);
        std::printf("N-MNIST   %9.0f samples/s (%.1f M events/s)\n", reps / dt, static_cast<double>(n) / dt * 1e-6);
        const auto real = describe_events(read_nmnist(sample_nmnist));
        std::printf("real N-MNIST sample: %zu events, ON fraction %.3f, %zu active pixels, t %llu..%llu us\n",
                    real.events, double(real.on) / double(real.events), real.active_pixels,
                    static_cast<unsigned long long>(real.t_first_us), static_cast<unsigned long long>(real.t_last_us));
    }

    // Converter: event statistics over MNIST test images (or the synthetic digit).
    std::vector<std::vector<std::uint8_t>> images;
    std::vector<int> labels;
    if (fs::exists(mnist)) {
        auto test = open_idx_dataset(mnist, "t10k");
        for (std::size_t i = 0; i < 100; ++i) { images.push_back(test.images.read(i)); labels.push_back(test.labels[i]); }
    } else {
        images.push_back(synthetic_digit());
        labels.push_back(-1);
    }
    std::vector<double> counts, on_frac, active;
    auto t0 = clock::now();
    for (const auto& img : images) {
        const auto st = describe_events(image_to_events(img, 28, 28));
        counts.push_back(double(st.events));
        on_frac.push_back(double(st.on) / double(std::max<std::size_t>(st.events, 1)));
        active.push_back(double(st.active_pixels));
    }
    const double conv = static_cast<double>(images.size()) / seconds_since(t0);
    const auto mean_sd = [](const std::vector<double>& x) {
        const double m = std::accumulate(x.begin(), x.end(), 0.0) / double(x.size());
        double v = 0;
        for (double e : x) v += (e - m) * (e - m);
        return std::pair{m, std::sqrt(v / double(std::max<std::size_t>(x.size() - 1, 1)))};
    };
    const auto [cm, cs] = mean_sd(counts);
    const auto [om, os] = mean_sd(on_frac);
    const auto [am, as] = mean_sd(active);
    std::printf("converter (%s, %zu images): %.0f +- %.0f events, ON fraction %.3f +- %.3f, %.0f +- %.0f active "
                "pixels; %.1f images/s\n",
                images.size() > 1 ? "MNIST t10k" : "synthetic digit", images.size(), cm, cs, om, os, am, as, conv);
    const auto syn = describe_events(image_to_events(synthetic_digit(), 28, 28));
    std::printf("converter (synthetic digit): %zu events, ON fraction %.3f, %zu active pixels, t %llu..%llu us\n",
                syn.events, double(syn.on) / double(syn.events), syn.active_pixels,
                static_cast<unsigned long long>(syn.t_first_us), static_cast<unsigned long long>(syn.t_last_us));
}

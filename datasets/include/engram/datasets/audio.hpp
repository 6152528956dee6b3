#pragma once
// Spike datasets of spoken words stored in HDF5, read one sample at a time.
//
// SHD and SSC (Cramer et al. 2020, IEEE TNNLS 33:2744), one file per split:
//   /spikes/times   variable-length float arrays, one per sample: spike times (s)
//   /spikes/units   variable-length uint16 arrays: the channel (0..699) of each spike
//   /labels         integer class per sample
//   /extra/speaker  integer speaker per sample (optional)
//   /extra/keys     strings: the class names, indexed by label (optional)
// Any integer or float file type HDF5 can convert is accepted (h5py writes float16 times).
//
// N-TIDIGITS (Anumula et al. 2018, Front. Neurosci. 12:23), one file for both splits:
//   /<split>_labels              strings, the sample ids ("man-ae-1o2"): the last
//                                '-' field is the spoken digit sequence
//   /<split>_addresses/<id>      channel (0..63) of each spike
//   /<split>_timestamps/<id>     spike times (s)
#include <cstdint>
#include <string>
#include <vector>

#include "engram/core/hdf5.hpp"
#include "engram/datasets/trains.hpp"

namespace engram {

inline constexpr std::size_t shd_channels = 700;
inline constexpr std::size_t ntidigits_channels = 64;

struct audio_sample {
    std::vector<float> times_s;           // SHD: as stored (s)
    std::vector<std::uint16_t> channels;  // same length
    int label = -1;
    int speaker = -1;                     // -1: not in the file
    spike_trains trains(std::size_t n_channels) const { return to_spike_trains(times_s, channels, n_channels); }
};

class shd_file {
public:
    // Opens the file and reads the per-sample labels and speakers (small); spikes are read
    // per sample by read(). Throws io_error if a dataset is missing or of the wrong kind.
    explicit shd_file(const std::string& path);

    const std::string& path() const { return path_; }
    std::size_t count() const { return labels_.size(); }
    int label(std::size_t i) const { return labels_.at(i); }
    const std::vector<int>& labels() const { return labels_; }
    const std::vector<std::string>& keys() const { return keys_; }  // class names; may be empty
    // Sample i; throws io_error naming the sample if its times and units differ in length.
    audio_sample read(std::size_t i) const;

private:
    std::string path_;
    h5::handle file_, times_, units_;
    std::vector<int> labels_, speakers_;
    std::vector<std::string> keys_;
};

struct ntidigits_sample {
    std::string id;                       // "man-ae-1o2"
    std::string digits;                   // "1o2": 0-9, 'o' (oh), 'z' (zero)
    int label = -1;                       // single digits: 0-9 ('z' = 0), 10 for 'o'; else -1
    std::vector<double> times_s;
    std::vector<std::uint16_t> channels;
    spike_trains trains(std::size_t n_channels = ntidigits_channels) const {
        return to_spike_trains(times_s, channels, n_channels);
    }
};

class ntidigits_file {
public:
    // split: "train" or "test".
    ntidigits_file(const std::string& path, const std::string& split);

    const std::string& path() const { return path_; }
    std::size_t count() const { return ids_.size(); }
    const std::string& id(std::size_t i) const { return ids_.at(i); }
    ntidigits_sample read(std::size_t i) const;

    // "man-ae-1o2" -> "1o2"; the label of a digit string (see ntidigits_sample::label).
    static std::string digits_of(const std::string& id);
    static int label_of(const std::string& digits);

private:
    std::string path_, split_;
    h5::handle file_, addresses_, timestamps_;
    std::vector<std::string> ids_;
};

}  // namespace engram

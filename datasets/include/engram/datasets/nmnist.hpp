#pragma once
// N-MNIST (Orchard et al. 2015, Front. Neurosci. 9:437): MNIST digits recorded by an ATIS
// sensor moved in three saccades; one binary file per sample, stored as
// <split>/<label>/<id>.bin (Train/0/00002.bin, ...).
//
// Each event is 5 bytes, fields big-endian over the 40 bits:
//   byte 0: x (0..33)   byte 1: y (0..33)
//   byte 2 bit 7: polarity (1 = ON)   byte 2 bits 6-0, bytes 3-4: time stamp (µs, 23 bits)
// A record with y == 240 is not an event but marks a time stamp overflow: as Tonic does,
// 2^13 µs is added to the time stamps of all later events, and the marker is dropped.
#include <cstdint>
#include <string>
#include <vector>

#include "engram/datasets/trains.hpp"

namespace engram {

inline constexpr int nmnist_sensor_size = 34;  // 34 x 34 pixels

// Decodes `n` bytes of N-MNIST events. `name` (a path) and `sensor_size` are for checks:
// n must be a multiple of 5, and x, y must be below sensor_size (0 = no check); a
// violation throws io_error naming `name`, the event index and its byte offset.
std::vector<dvs_event> decode_nmnist(const std::uint8_t* data, std::size_t n, const std::string& name,
                                     int sensor_size = nmnist_sensor_size);

// Reads and decodes one file.
std::vector<dvs_event> read_nmnist(const std::string& path, int sensor_size = nmnist_sensor_size);

// The samples of one split directory (e.g. N-MNIST/Train): class folders 0..9 of .bin
// files, sorted by label then file name.
std::vector<labelled_file> list_nmnist(const std::string& dir);

}  // namespace engram

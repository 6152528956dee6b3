#pragma once
// Key presses sent to a window through Xlib (XSendEvent), for the live-window tests. Kept
// apart from the tests because Xlib's macros (None, Always, ...) clash with Catch2 and SFML.
#include <memory>
#include <string>

namespace engram::test {

class x_keyboard {
public:
    x_keyboard();  // opens $DISPLAY; throws std::runtime_error if it cannot
    ~x_keyboard();
    // Waits up to timeout_s for a window titled `title`; false if none appeared.
    bool find_window(const std::string& title, double timeout_s);
    // Presses and releases the key named by its X keysym name ("space", "q", "Escape").
    void press(const std::string& keysym);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace engram::test

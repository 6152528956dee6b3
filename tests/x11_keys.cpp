#include "x11_keys.hpp"

#include <X11/Xlib.h>
#include <unistd.h>

#include <stdexcept>

namespace engram::test {

struct x_keyboard::impl {
    Display* d = nullptr;
    Window w = 0;
};

namespace {

Window find(Display* d, Window w, const std::string& title) {
    char* n = nullptr;
    if (XFetchName(d, w, &n) && n) {
        const bool match = title == n;
        XFree(n);
        if (match) return w;
    }
    Window root = 0, parent = 0, *kids = nullptr;
    unsigned nk = 0;
    Window found = 0;
    if (XQueryTree(d, w, &root, &parent, &kids, &nk)) {
        for (unsigned i = 0; i < nk && !found; ++i) found = find(d, kids[i], title);
        if (kids) XFree(kids);
    }
    return found;
}

}  // namespace

x_keyboard::x_keyboard() : impl_(std::make_unique<impl>()) {
    impl_->d = XOpenDisplay(nullptr);
    if (!impl_->d) throw std::runtime_error("cannot open the X display named by DISPLAY");
}

x_keyboard::~x_keyboard() {
    if (impl_->d) XCloseDisplay(impl_->d);
}

bool x_keyboard::find_window(const std::string& title, double timeout_s) {
    for (int i = 0; i < static_cast<int>(timeout_s * 20); ++i) {
        impl_->w = find(impl_->d, DefaultRootWindow(impl_->d), title);
        if (impl_->w) return true;
        usleep(50'000);
    }
    return false;
}

void x_keyboard::press(const std::string& keysym) {
    const KeySym sym = XStringToKeysym(keysym.c_str());
    if (sym == NoSymbol) throw std::runtime_error("unknown keysym '" + keysym + "'");
    for (int type : {KeyPress, KeyRelease}) {
        XKeyEvent e{};
        e.type = type;
        e.display = impl_->d;
        e.window = impl_->w;
        e.root = DefaultRootWindow(impl_->d);
        e.time = CurrentTime;
        e.same_screen = True;
        e.keycode = XKeysymToKeycode(impl_->d, sym);
        XSendEvent(impl_->d, impl_->w, True, type == KeyPress ? KeyPressMask : KeyReleaseMask,
                   reinterpret_cast<XEvent*>(&e));
    }
    XFlush(impl_->d);
}

}  // namespace engram::test

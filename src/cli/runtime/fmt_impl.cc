// libfmt's compiled part, built into vessel-runtime (CMakeLists.txt) so that the program needs
// no libfmt.so, which Debian ships without a static archive: libfmt.so also pulls the shared
// libstdc++ and libgcc_s back in, and the dynamic loader runs twice on every create, run and
// exec (the sealed-copy re-exec, linux/self_exec.h). The out-of-line functions come from
// format-inl.h; the templates the headers declare extern are instantiated here for char.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template locale_ref::locale_ref(const std::locale& loc);
template auto locale_ref::get<std::locale>() const -> std::locale;
template auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template auto decimal_point_impl(locale_ref) -> char;
template void buffer<char>::append(const char*, const char*);
template void vformat_to(buffer<char>&, string_view, basic_format_args<FMT_BUFFER_CONTEXT(char)>,
                         locale_ref);

}  // namespace detail
FMT_END_NAMESPACE

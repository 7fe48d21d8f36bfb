/* A stand-in for Windows' bcryptprimitives.dll, which Wine 8.0 does not have.
 * Programs built by Rust 1.78 and later import ProcessPrng from it for random
 * bytes, so without it they fail to start under Wine. This version fills the
 * buffer with RtlGenRandom (SystemFunction036 in advapi32), which Wine has. */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a 32-bit length, so larger requests go in chunks. */
    const SIZE_T max_chunk = 1u << 30;
    while (length > 0) {
        ULONG chunk = (ULONG)(length < max_chunk ? length : max_chunk);
        if (!RtlGenRandom(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

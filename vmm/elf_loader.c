/* SPDX-License-Identifier: MIT */
#include "vmm/elf_loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ELF_MAX_SEGMENTS 64
#define ELF_MAX_FILE	 (256u << 20)

static int elf_fail(char *err, size_t err_size, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return ret;
}

static int elf_check_header(const Elf64_Ehdr *eh, size_t file_size, char *err,
			    size_t err_size)
{
	uint64_t table_end;

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return elf_fail(err, err_size, -ENOEXEC, "not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return elf_fail(err, err_size, -ENOEXEC,
				"not a 64-bit ELF (class %u)",
				eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return elf_fail(err, err_size, -ENOEXEC, "not little-endian");
	if (eh->e_machine != EM_X86_64)
		return elf_fail(err, err_size, -ENOEXEC,
				"not an x86-64 ELF (machine %u)",
				eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return elf_fail(err, err_size, -ENOEXEC,
				"not a static executable (ELF type %u; "
				"PIE and shared objects are not supported)",
				eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return elf_fail(err, err_size, -ENOEXEC,
				"bad program header size %u", eh->e_phentsize);
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_SEGMENTS)
		return elf_fail(err, err_size, -ENOEXEC,
				"bad program header count %u", eh->e_phnum);
	table_end = eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (eh->e_phoff > file_size || table_end > file_size)
		return elf_fail(err, err_size, -ENOEXEC,
				"truncated: program headers end at %llu, file "
				"has %zu bytes",
				(unsigned long long)table_end, file_size);
	return 0;
}

static int elf_check_segment(const Elf64_Phdr *ph, size_t file_size,
			     uint64_t min_addr, uint64_t max_addr, char *err,
			     size_t err_size)
{
	uint64_t end;

	if (ph->p_filesz > ph->p_memsz)
		return elf_fail(err, err_size, -ENOEXEC,
				"segment at 0x%llx: file size > memory size",
				(unsigned long long)ph->p_vaddr);
	if (ph->p_offset > file_size || ph->p_filesz > file_size - ph->p_offset)
		return elf_fail(
		    err, err_size, -ENOEXEC,
		    "truncated: segment at 0x%llx needs file bytes "
		    "up to %llu, file has %zu",
		    (unsigned long long)ph->p_vaddr,
		    (unsigned long long)(ph->p_offset + ph->p_filesz),
		    file_size);
	if (ph->p_vaddr != ph->p_paddr)
		return elf_fail(err, err_size, -ENOEXEC,
				"segment virtual 0x%llx != physical 0x%llx "
				"(guest is identity-mapped)",
				(unsigned long long)ph->p_vaddr,
				(unsigned long long)ph->p_paddr);
	end = ph->p_vaddr + ph->p_memsz;
	if (ph->p_vaddr < min_addr || end < ph->p_vaddr || end > max_addr)
		return elf_fail(
		    err, err_size, -ENOEXEC,
		    "segment 0x%llx-0x%llx outside the guest image "
		    "area 0x%llx-0x%llx",
		    (unsigned long long)ph->p_vaddr, (unsigned long long)end,
		    (unsigned long long)min_addr, (unsigned long long)max_addr);
	return 0;
}

/* A corrupt e_phoff may be misaligned: copy headers out, never cast. */
static void elf_phdr(const uint8_t *file, const Elf64_Ehdr *eh, unsigned i,
		     Elf64_Phdr *ph)
{
	memcpy(ph, file + eh->e_phoff + (uint64_t)i * sizeof(*ph), sizeof(*ph));
}

int elf_load(const uint8_t *file, size_t file_size, uint8_t *mem,
	     uint64_t mem_size, uint64_t min_addr, uint64_t max_addr,
	     struct elf_image *out, char *err, size_t err_size)
{
	Elf64_Ehdr ehdr;
	const Elf64_Ehdr *eh = &ehdr;
	Elf64_Phdr phdr, other_phdr;
	const Elf64_Phdr *ph = &phdr, *other = &other_phdr;
	uint64_t lo = UINT64_MAX, hi = 0;
	bool entry_ok = false;
	unsigned loads = 0;
	int ret;

	if (max_addr > mem_size)
		max_addr = mem_size;
	if (file_size < sizeof(*eh))
		return elf_fail(err, err_size, -ENOEXEC,
				"truncated: %zu bytes is smaller than an ELF "
				"header",
				file_size);
	memcpy(&ehdr, file, sizeof(ehdr));
	ret = elf_check_header(eh, file_size, err, err_size);
	if (ret)
		return ret;

	for (unsigned i = 0; i < eh->e_phnum; i++) {
		elf_phdr(file, eh, i, &phdr);
		if (ph->p_type == PT_INTERP || ph->p_type == PT_DYNAMIC)
			return elf_fail(err, err_size, -ENOEXEC,
					"dynamically linked; guest images must "
					"be static");
		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		ret = elf_check_segment(ph, file_size, min_addr, max_addr, err,
					err_size);
		if (ret)
			return ret;
		for (unsigned j = 0; j < i; j++) {
			elf_phdr(file, eh, j, &other_phdr);
			if (other->p_type != PT_LOAD || other->p_memsz == 0)
				continue;
			if (ph->p_vaddr < other->p_vaddr + other->p_memsz &&
			    other->p_vaddr < ph->p_vaddr + ph->p_memsz)
				return elf_fail(err, err_size, -ENOEXEC,
						"segments %u and %u overlap", j,
						i);
		}
		if ((ph->p_flags & PF_X) && eh->e_entry >= ph->p_vaddr &&
		    eh->e_entry < ph->p_vaddr + ph->p_memsz)
			entry_ok = true;
		if (ph->p_vaddr < lo)
			lo = ph->p_vaddr;
		if (ph->p_vaddr + ph->p_memsz > hi)
			hi = ph->p_vaddr + ph->p_memsz;
		loads++;
	}
	if (loads == 0)
		return elf_fail(err, err_size, -ENOEXEC, "no loadable segment");
	if (!entry_ok)
		return elf_fail(err, err_size, -ENOEXEC,
				"entry point 0x%llx is not in an executable "
				"segment",
				(unsigned long long)eh->e_entry);

	/* Everything validated: now copy. */
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		elf_phdr(file, eh, i, &phdr);
		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		memcpy(mem + ph->p_vaddr, file + ph->p_offset, ph->p_filesz);
		memset(mem + ph->p_vaddr + ph->p_filesz, 0,
		       ph->p_memsz - ph->p_filesz);
	}
	out->entry = eh->e_entry;
	out->start = lo;
	out->end = hi;
	return 0;
}

int elf_read_file(const char *path, uint8_t **data, size_t *size)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t done = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > ELF_MAX_FILE) {
		ret = -EFBIG;
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			goto out;
		}
		done += (size_t)n;
	}
	*data = buf;
	*size = done;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

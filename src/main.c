/* main: wiring only (see admin/ for the command line). */
#include <stdio.h>

int main(void)
{
	puts("bastion " BASTION_VERSION);
	return 0;
}

/* main: wiring only; the command line lives in admin/. */
#include "admin/admin.h"

int main(int argc, char **argv)
{
	return admin_main(argc, argv);
}
